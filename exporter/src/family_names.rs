//! Family names and HELP texts built from what the kernel prints — a meminfo field,
//! a netstat counter, a vmstat entry — are the same few hundred on every scrape.
//! [`FamilyNames`] builds each pair once and keeps it for the life of the process, so
//! a scrape formats and allocates none of them. The kernel's field set is small and
//! fixed, but what a table holds is still bounded: past [`MAX_NAMES`] pairs, new ones
//! are built per scrape, as if there were no cache.

use std::collections::HashMap;

use edge_common::exposition::Name;

/// The most name pairs one table keeps.
pub const MAX_NAMES: usize = 2048;

#[derive(Default)]
pub struct FamilyNames {
    kept: HashMap<String, (&'static str, &'static str), foldhash::fast::RandomState>,
}

impl FamilyNames {
    /// The (name, HELP) of the family for `key`, built by `build` the first time.
    pub fn get(&mut self, key: &str, build: impl FnOnce() -> (String, String)) -> (Name, Name) {
        if let Some(&(name, help)) = self.kept.get(key) {
            return (Name::Borrowed(name), Name::Borrowed(help));
        }
        let (name, help) = build();
        if self.kept.len() >= MAX_NAMES {
            return (Name::Owned(name), Name::Owned(help));
        }
        // Kept for the life of the process: at most MAX_NAMES pairs per table.
        let name: &'static str = Box::leak(name.into_boxed_str());
        let help: &'static str = Box::leak(help.into_boxed_str());
        self.kept.insert(key.to_string(), (name, help));
        (Name::Borrowed(name), Name::Borrowed(help))
    }

    pub fn len(&self) -> usize {
        self.kept.len()
    }

    pub fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pair_is_built_once_and_the_table_is_bounded() {
        let mut names = FamilyNames::default();
        let mut built = 0;
        for _ in 0..3 {
            let (name, help) = names.get("MemTotal", || {
                built += 1;
                (
                    "node_memory_MemTotal_bytes".into(),
                    "Memory information field MemTotal_bytes.".into(),
                )
            });
            assert_eq!(name, "node_memory_MemTotal_bytes");
            assert_eq!(help, "Memory information field MemTotal_bytes.");
            assert!(matches!(name, Name::Borrowed(_)));
        }
        assert_eq!(built, 1);
        for i in 0..MAX_NAMES + 10 {
            names.get(&i.to_string(), || (format!("n{i}"), format!("h{i}")));
        }
        assert_eq!(names.len(), MAX_NAMES);
        let (name, _) = names.get("beyond", || ("node_x".into(), "X.".into()));
        assert!(
            matches!(name, Name::Owned(_)),
            "built per scrape past the bound"
        );
    }
}
