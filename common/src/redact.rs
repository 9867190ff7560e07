//! Secrets in process command lines. Programs are often started with a password or a
//! token on their command line (`--db-password=…`, `API_TOKEN=… ./job`,
//! `postgres://user:pass@host`), and a command line shown on a dashboard or served by
//! an unauthenticated API publishes it. The exporter applies this rule before it
//! exports a command line, and edge-master again to whatever reaches it (an older
//! exporter, a plain node_exporter's process exporter, a push).
//!
//! The rule, on the space-separated words of a command line:
//! - `NAME=VALUE` (an option `--name=value` or an environment-style assignment) whose
//!   NAME suggests a secret: VALUE becomes `***`;
//! - an option word `-NAME`/`--NAME` whose NAME suggests a secret, followed by a word
//!   that is not an option: that word becomes `***`;
//! - a URL with a password (`scheme://user:password@host…`): the password becomes
//!   `***`.
//!
//! A name suggests a secret when it contains, in any case, one of [`SECRET_WORDS`].
//! The rule errs on the side of hiding (`--keyboard-layout=de` is hidden too): a hidden
//! harmless value costs a little context, a published secret costs the secret.

use std::borrow::Cow;

/// Parts of an option or variable name that mark its value as secret.
pub const SECRET_WORDS: [&str; 7] = [
    "password",
    "passwd",
    "secret",
    "token",
    "key",
    "credential",
    "auth",
];

/// What a hidden value is replaced with.
pub const REDACTED: &str = "***";

/// How command lines are shown: the value of edge-exporter's
/// `--collector.top_processes.cmdline` and edge-master's `--process.cmdline`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CmdlinePolicy {
    /// Secrets hidden by [`redact_cmdline`] (the default).
    #[default]
    Redact,
    /// Not at all: the empty string.
    Drop,
    /// As the kernel gives it.
    Full,
}

impl CmdlinePolicy {
    /// The flag values.
    pub const NAMES: [&'static str; 3] = ["redact", "drop", "full"];

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "redact" => Some(CmdlinePolicy::Redact),
            "drop" => Some(CmdlinePolicy::Drop),
            "full" => Some(CmdlinePolicy::Full),
            _ => None,
        }
    }

    /// `cmdline` as this policy shows it.
    pub fn show<'a>(self, cmdline: &'a str) -> Cow<'a, str> {
        match self {
            CmdlinePolicy::Redact => redact_cmdline(cmdline),
            CmdlinePolicy::Full => Cow::Borrowed(cmdline),
            CmdlinePolicy::Drop => Cow::Borrowed(""),
        }
    }

    /// [`CmdlinePolicy::show`], in place.
    pub fn apply(self, cmdline: &mut String) {
        if let Cow::Owned(shown) = self.show(cmdline) {
            *cmdline = shown;
        } else if self == CmdlinePolicy::Drop {
            cmdline.clear();
        }
    }
}

/// Whether an option or variable name suggests its value is a secret.
pub fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|word| name.contains(word))
}

/// `cmdline` (words separated by single spaces) with secrets replaced by [`REDACTED`];
/// borrowed when there is nothing to hide.
pub fn redact_cmdline(cmdline: &str) -> Cow<'_, str> {
    let words: Vec<&str> = cmdline.split(' ').collect();
    let mut out: Vec<Cow<'_, str>> = Vec::with_capacity(words.len());
    let mut changed = false;
    let mut hide_next = false;
    for word in words {
        if hide_next && !word.is_empty() && !word.starts_with('-') {
            out.push(Cow::Borrowed(REDACTED));
            changed = true;
            hide_next = false;
            continue;
        }
        hide_next = false;
        let redacted = redact_word(word);
        if let Cow::Owned(_) = redacted {
            changed = true;
        } else if let Some(option) = word.strip_prefix('-') {
            let name = option.trim_start_matches('-');
            hide_next = !name.is_empty() && !name.contains('=') && is_secret_name(name);
        }
        out.push(redacted);
    }
    if changed {
        Cow::Owned(out.join(" "))
    } else {
        Cow::Borrowed(cmdline)
    }
}

/// One word: `NAME=secret` and URL passwords hidden.
fn redact_word(word: &str) -> Cow<'_, str> {
    if let Some((name, value)) = word.split_once('=') {
        if !value.is_empty() && is_secret_name(name.trim_start_matches('-')) {
            return Cow::Owned(format!("{name}={REDACTED}"));
        }
    }
    redact_url_password(word)
}

/// `scheme://user:password@host` → `scheme://user:***@host`, wherever in the word.
fn redact_url_password(word: &str) -> Cow<'_, str> {
    let Some(scheme_end) = word.find("://") else {
        return Cow::Borrowed(word);
    };
    let authority_start = scheme_end + 3;
    let rest = &word[authority_start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return Cow::Borrowed(word);
    };
    let Some(colon) = authority[..at].find(':') else {
        return Cow::Borrowed(word);
    };
    if colon + 1 == at {
        return Cow::Borrowed(word);
    }
    let password_start = authority_start + colon + 1;
    let password_end = authority_start + at;
    Cow::Owned(format!(
        "{}{REDACTED}{}",
        &word[..password_start],
        &word[password_end..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_hidden() {
        for (given, shown) in [
            ("app --db-password=hunter2-SECRET", "app --db-password=***"),
            (
                "app --password hunter2 --port 80",
                "app --password *** --port 80",
            ),
            ("app -token abc", "app -token ***"),
            (
                "env API_TOKEN=abc AWS_SECRET_ACCESS_KEY=x ./job",
                "env API_TOKEN=*** AWS_SECRET_ACCESS_KEY=*** ./job",
            ),
            (
                "psql postgres://admin:s3cr3t@db:5432/x",
                "psql postgres://admin:***@db:5432/x",
            ),
            (
                "curl -u x https://u:p@h/p?q=1",
                "curl -u x https://u:***@h/p?q=1",
            ),
            (
                "app --Client-Credentials=a:b",
                "app --Client-Credentials=***",
            ),
            (
                "vault login -auth-method=userpass",
                "vault login -auth-method=***",
            ),
        ] {
            assert_eq!(redact_cmdline(given), shown, "{given}");
        }
    }

    #[test]
    fn other_words_are_kept_as_they_are() {
        for kept in [
            "nginx: master process /usr/sbin/nginx -g daemon on;",
            "app --port=80 --name=x",
            "app --password",
            "app --password --verbose",
            "app --password= --x",
            "git clone https://github.com/x/y",
            "ssh user@host",
            "",
            "  two  spaces ",
        ] {
            assert!(matches!(redact_cmdline(kept), Cow::Borrowed(_)), "{kept}");
            assert_eq!(redact_cmdline(kept), kept);
        }
    }

    #[test]
    fn policies() {
        let cmdline = "app --token=abc";
        assert_eq!(CmdlinePolicy::Redact.show(cmdline), "app --token=***");
        assert_eq!(CmdlinePolicy::Full.show(cmdline), cmdline);
        assert_eq!(CmdlinePolicy::Drop.show(cmdline), "");
        for (policy, kept) in [
            (CmdlinePolicy::Redact, "app --token=***"),
            (CmdlinePolicy::Drop, ""),
            (CmdlinePolicy::Full, cmdline),
        ] {
            let mut text = cmdline.to_owned();
            policy.apply(&mut text);
            assert_eq!(text, kept);
        }
        for value in CmdlinePolicy::NAMES {
            assert!(CmdlinePolicy::parse(value).is_some());
        }
        assert_eq!(CmdlinePolicy::parse("partial"), None);
        assert_eq!(CmdlinePolicy::default(), CmdlinePolicy::Redact);
    }
}
