//! A multi-document manifest read back: its objects by kind and name, a container's
//! arguments, a ConfigMap's files.

use yaml_serde::Value;

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("document {document}: {source}")]
    Yaml {
        document: usize,
        source: yaml_serde::Error,
    },
    #[error("no {kind} named {name}")]
    NoObject { kind: String, name: String },
    #[error("{kind} {name}: {what}")]
    Shape {
        kind: String,
        name: String,
        what: String,
    },
}

/// The objects of a manifest, in order; empty documents (comments only) left out.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub objects: Vec<Value>,
}

impl Manifest {
    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        let mut objects = Vec::new();
        for (index, document) in yaml_serde::Deserializer::from_str(text).enumerate() {
            let value: Value = serde::Deserialize::deserialize(document).map_err(|source| {
                ManifestError::Yaml {
                    document: index + 1,
                    source,
                }
            })?;
            if !value.is_null() {
                objects.push(value);
            }
        }
        Ok(Manifest { objects })
    }

    /// The object of `kind` named `name`.
    pub fn object(&self, kind: &str, name: &str) -> Result<&Value, ManifestError> {
        self.objects
            .iter()
            .find(|o| {
                o["kind"].as_str() == Some(kind) && o["metadata"]["name"].as_str() == Some(name)
            })
            .ok_or_else(|| ManifestError::NoObject {
                kind: kind.into(),
                name: name.into(),
            })
    }

    /// The `args` of container `container` in the pod template of workload
    /// `kind`/`name` (a Deployment, DaemonSet, StatefulSet).
    pub fn container_args(
        &self,
        kind: &str,
        name: &str,
        container: &str,
    ) -> Result<Vec<String>, ManifestError> {
        let shape = |what: String| ManifestError::Shape {
            kind: kind.into(),
            name: name.into(),
            what,
        };
        let containers = self.object(kind, name)?["spec"]["template"]["spec"]["containers"]
            .as_sequence()
            .ok_or_else(|| shape("no containers".into()))?;
        let found = containers
            .iter()
            .find(|c| c["name"].as_str() == Some(container))
            .ok_or_else(|| shape(format!("no container {container}")))?;
        let Some(args) = found["args"].as_sequence() else {
            return Ok(Vec::new());
        };
        args.iter()
            .map(|a| {
                a.as_str().map(str::to_string).ok_or_else(|| {
                    shape(format!(
                        "container {container}: an argument is not a string: {a:?}"
                    ))
                })
            })
            .collect()
    }

    /// The file `key` of ConfigMap `name`.
    pub fn config_map_file(&self, name: &str, key: &str) -> Result<&str, ManifestError> {
        self.object("ConfigMap", name)?["data"][key]
            .as_str()
            .ok_or_else(|| ManifestError::Shape {
                kind: "ConfigMap".into(),
                name: name.into(),
                what: format!("no data key {key}"),
            })
    }
}

/// The value of `flag=value` among `args` (`flag` with its dashes).
pub fn flag_value<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    args.iter()
        .find_map(|a| a.strip_prefix(flag)?.strip_prefix('='))
}

/// A flag [`replace_flag_values`] was asked to replace that is not there once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlagReplaceError {
    #[error("{flag} is not among the arguments {args:?}")]
    Missing { flag: String, args: Vec<String> },
    #[error("{flag} is given more than once in {args:?}")]
    Repeated { flag: String, args: Vec<String> },
}

/// `args` with the value of each `-flag=value` / `--flag=value` named in `values`
/// replaced; every flag named must be there once.
pub fn replace_flag_values(
    args: &[String],
    values: &[(&str, &str)],
) -> Result<Vec<String>, FlagReplaceError> {
    let mut out = args.to_vec();
    for (flag, value) in values {
        let prefix = format!("{flag}=");
        let positions: Vec<usize> = out
            .iter()
            .enumerate()
            .filter(|(_, a)| a.starts_with(&prefix))
            .map(|(i, _)| i)
            .collect();
        match positions.as_slice() {
            [one] => out[*one] = format!("{prefix}{value}"),
            [] => {
                return Err(FlagReplaceError::Missing {
                    flag: flag.to_string(),
                    args: args.to_vec(),
                })
            }
            _ => {
                return Err(FlagReplaceError::Repeated {
                    flag: flag.to_string(),
                    args: args.to_vec(),
                })
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# header only\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a.yml: |\n    x: 1\n---\napiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: d\nspec:\n  template:\n    spec:\n      containers:\n        - name: one\n          args: [\"-a=1\", \"-b=2\"]\n        - name: two\n";

    #[test]
    fn finds_objects_args_and_files() {
        let manifest = Manifest::parse(TEXT).unwrap();
        assert_eq!(manifest.objects.len(), 2);
        assert_eq!(manifest.config_map_file("c", "a.yml").unwrap(), "x: 1\n");
        assert_eq!(
            manifest.container_args("DaemonSet", "d", "one").unwrap(),
            ["-a=1", "-b=2"]
        );
        assert!(manifest
            .container_args("DaemonSet", "d", "two")
            .unwrap()
            .is_empty());
        assert_eq!(
            manifest
                .container_args("DaemonSet", "d", "three")
                .unwrap_err()
                .to_string(),
            "DaemonSet d: no container three"
        );
        assert_eq!(
            manifest.object("Deployment", "d").unwrap_err().to_string(),
            "no Deployment named d"
        );
        assert_eq!(
            manifest.config_map_file("c", "b").unwrap_err().to_string(),
            "ConfigMap c: no data key b"
        );
    }

    #[test]
    fn a_broken_document_is_named() {
        let err = Manifest::parse("a: 1\n---\nb: [\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("document 2: "), "{err}");
    }

    #[test]
    fn finds_a_flags_value_by_its_whole_name() {
        let args: Vec<String> = ["--db=x.db", "--dbx=y", "-a=1=2"]
            .map(String::from)
            .to_vec();
        assert_eq!(flag_value(&args, "--db"), Some("x.db"));
        assert_eq!(flag_value(&args, "-a"), Some("1=2"));
        assert_eq!(flag_value(&args, "--d"), None);
    }

    #[test]
    fn replaces_flag_values_that_are_there_once() {
        let args: Vec<String> = ["-a=1", "-b=2", "--c=x=y"].map(String::from).to_vec();
        assert_eq!(
            replace_flag_values(&args, &[("-a", "9"), ("--c", "z")]).unwrap(),
            ["-a=9", "-b=2", "--c=z"]
        );
        assert!(replace_flag_values(&args, &[("-d", "1")])
            .unwrap_err()
            .to_string()
            .starts_with("-d is not among"));
        let twice: Vec<String> = ["-a=1", "-a=2"].map(String::from).to_vec();
        assert!(replace_flag_values(&twice, &[("-a", "1")])
            .unwrap_err()
            .to_string()
            .contains("more than once"));
    }
}
