//! What a script starts with besides its file: a clean environment, and optionally
//! another user than the sidecar's.
//!
//! The sidecar's own environment may hold anything the pod or unit was given (cloud
//! credentials, tokens), and the scripts come from a ConfigMap: a script gets only
//! `PATH` (`--script-path`), `NODE_NAME`, `TZ` and `LANG` (when the sidecar has them)
//! and the variables `--script-env` names, with the sidecar's values.
//!
//! `--run-as USER[:GROUP]` runs every script as that user: in the child, before
//! `exec`, the supplementary groups become the user's (as `initgroups` would make
//! them, looked up once at start), then the group, then the user. A root sidecar
//! can then keep what it needs itself (the I2C devices of native sensor reads) while
//! its scripts have no privileges. Not chosen: std's `Command::uid`/`gid`, which drop
//! every supplementary group, so a script run as a member of `i2c` could not open
//! `/dev/i2c-*`.

use std::ffi::{CString, OsString};
use std::os::unix::process::CommandExt;
use std::process::Command;

use nix::unistd::{Gid, Group, Uid, User};

/// `--script-path`'s default: the system's directories, none a user can write.
pub const DEFAULT_SCRIPT_PATH: &str =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Variables a script gets with the sidecar's value when the sidecar has them, besides
/// those `--script-env` names.
pub const PASSED_BY_DEFAULT: [&str; 2] = ["TZ", "LANG"];

/// Variables the sidecar sets itself, so `--script-env` cannot name them.
pub const SET_BY_THE_SIDECAR: [&str; 2] = ["PATH", "NODE_NAME"];

/// The whole environment of a script.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScriptEnv {
    vars: Vec<(OsString, OsString)>,
}

impl ScriptEnv {
    /// `PATH=path`, `NODE_NAME=node_name`, and each of [`PASSED_BY_DEFAULT`] and `pass`
    /// with its value in `lookup` (the sidecar's environment) if it has one there.
    pub fn new(
        node_name: &str,
        path: &str,
        pass: &[String],
        lookup: impl Fn(&str) -> Option<OsString>,
    ) -> Self {
        let mut vars = vec![
            (OsString::from("PATH"), OsString::from(path)),
            (OsString::from("NODE_NAME"), OsString::from(node_name)),
        ];
        let names = PASSED_BY_DEFAULT
            .iter()
            .copied()
            .chain(pass.iter().map(String::as_str));
        for name in names {
            if vars.iter().any(|(set, _)| set == name) {
                continue;
            }
            if let Some(value) = lookup(name) {
                vars.push((OsString::from(name), value));
            }
        }
        ScriptEnv { vars }
    }

    pub fn vars(&self) -> &[(OsString, OsString)] {
        &self.vars
    }

    /// Gives `command` exactly this environment.
    pub fn apply(&self, command: &mut Command) {
        command
            .env_clear()
            .envs(self.vars.iter().map(|(name, value)| (name, value)));
    }
}

/// Whether `name` can be passed with `--script-env`: a variable name (no `=`, no NUL,
/// not empty) that the sidecar does not set itself.
pub fn check_passed_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.contains(['=', '\0']) {
        return Err(format!("{name:?} is not a variable name"));
    }
    if SET_BY_THE_SIDECAR.contains(&name) {
        return Err(format!(
            "{name} is set by the sidecar itself (PATH with --script-path)"
        ));
    }
    Ok(())
}

/// The user and groups scripts run as (`--run-as`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    /// As given, for messages.
    pub spec: String,
    pub uid: Uid,
    pub gid: Gid,
    /// The supplementary groups: the user's, or only `gid` for a user without a
    /// passwd entry.
    pub groups: Vec<Gid>,
}

/// Why `--run-as` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunAsError {
    #[error("no user {0:?}")]
    UnknownUser(String),
    #[error("no group {0:?}")]
    UnknownGroup(String),
    #[error("uid {0} has no passwd entry: give its group too (USER:GROUP)")]
    NoGroup(u32),
    #[error("looking up {what}: {errno}")]
    Lookup {
        what: String,
        errno: nix::errno::Errno,
    },
}

impl RunAs {
    /// `USER[:GROUP]`, each a name or a number. The group defaults to the user's
    /// primary group.
    pub fn parse(spec: &str) -> Result<Self, RunAsError> {
        let (user_part, group_part) = match spec.split_once(':') {
            Some((user, group)) => (user, Some(group)),
            None => (spec, None),
        };
        let lookup = |what: &str| {
            let what = what.to_string();
            move |errno| RunAsError::Lookup { what, errno }
        };
        let user = match user_part.parse::<u32>() {
            Ok(uid) => User::from_uid(Uid::from_raw(uid)).map_err(lookup(user_part))?,
            Err(_) => Some(
                User::from_name(user_part)
                    .map_err(lookup(user_part))?
                    .ok_or_else(|| RunAsError::UnknownUser(user_part.to_string()))?,
            ),
        };
        let uid = match (&user, user_part.parse::<u32>()) {
            (Some(user), _) => user.uid,
            (None, Ok(uid)) => Uid::from_raw(uid),
            (None, Err(_)) => return Err(RunAsError::UnknownUser(user_part.to_string())),
        };
        let gid = match group_part {
            Some(group) => match group.parse::<u32>() {
                Ok(gid) => Gid::from_raw(gid),
                Err(_) => {
                    Group::from_name(group)
                        .map_err(lookup(group))?
                        .ok_or_else(|| RunAsError::UnknownGroup(group.to_string()))?
                        .gid
                }
            },
            None => match &user {
                Some(user) => user.gid,
                None => return Err(RunAsError::NoGroup(uid.as_raw())),
            },
        };
        let groups = match &user {
            Some(user) => {
                // A name with a NUL cannot come from the passwd database.
                let name = CString::new(user.name.as_bytes())
                    .map_err(|_| RunAsError::UnknownUser(user.name.clone()))?;
                nix::unistd::getgrouplist(&name, gid).map_err(lookup(&user.name))?
            }
            None => vec![gid],
        };
        Ok(RunAs {
            spec: spec.to_string(),
            uid,
            gid,
            groups,
        })
    }

    /// Makes `command`'s child take these groups and this user before it runs.
    pub fn apply(&self, command: &mut Command) {
        let (uid, gid, groups) = (self.uid, self.gid, self.groups.clone());
        // SAFETY: the closure runs in the child between fork and exec. It makes three
        // system calls, which are async-signal-safe, and allocates nothing: `groups`
        // was allocated before the fork.
        unsafe {
            command.pre_exec(move || {
                nix::unistd::setgroups(&groups)?;
                nix::unistd::setgid(gid)?;
                nix::unistd::setuid(uid)?;
                Ok(())
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_is_only_what_is_named() {
        let sidecar = |name: &str| match name {
            "TZ" => Some(OsString::from("UTC")),
            "I2C_BUS" => Some(OsString::from("3")),
            "PATH" => Some(OsString::from("/home/x/bin:/usr/bin")),
            "AWS_SECRET_ACCESS_KEY" => Some(OsString::from("secret")),
            _ => None,
        };
        let env = ScriptEnv::new(
            "n1",
            DEFAULT_SCRIPT_PATH,
            &["I2C_BUS".into(), "UNSET".into(), "TZ".into()],
            sidecar,
        );
        let vars: Vec<(String, String)> = env
            .vars()
            .iter()
            .map(|(k, v)| (k.to_string_lossy().into(), v.to_string_lossy().into()))
            .collect();
        assert_eq!(
            vars,
            [
                ("PATH".to_string(), DEFAULT_SCRIPT_PATH.to_string()),
                ("NODE_NAME".into(), "n1".into()),
                ("TZ".into(), "UTC".into()),
                ("I2C_BUS".into(), "3".into()),
            ]
        );
    }

    #[test]
    fn passed_names_are_variable_names_the_sidecar_does_not_set() {
        assert!(check_passed_name("I2C_BUS").is_ok());
        for bad in ["", "A=B", "PATH", "NODE_NAME", "A\0"] {
            assert!(check_passed_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn run_as_takes_names_numbers_and_the_users_groups() {
        let root = RunAs::parse("root").unwrap();
        assert_eq!((root.uid.as_raw(), root.gid.as_raw()), (0, 0));
        assert!(root.groups.contains(&Gid::from_raw(0)));
        let nobody = RunAs::parse("65534:65534").unwrap();
        assert_eq!((nobody.uid.as_raw(), nobody.gid.as_raw()), (65534, 65534));
        assert_eq!(
            RunAs::parse("no-such-user-here"),
            Err(RunAsError::UnknownUser("no-such-user-here".into()))
        );
        assert_eq!(
            RunAs::parse("root:no-such-group-here"),
            Err(RunAsError::UnknownGroup("no-such-group-here".into()))
        );
        assert_eq!(RunAs::parse("4242424"), Err(RunAsError::NoGroup(4242424)));
        let numeric = RunAs::parse("4242424:4242").unwrap();
        assert_eq!(numeric.groups, [Gid::from_raw(4242)]);
    }
}
