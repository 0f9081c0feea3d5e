//! Server versions as the servers report them ("15.18 (Debian …)", "10.11.14-MariaDB-…",
//! "8.0.36"), and the versions dbtuner supports.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::Engine;

/// major.minor.patch; missing parts are 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl Version {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Version {
        Version {
            major,
            minor,
            patch,
        }
    }

    /// Parse the leading dotted numbers of a version string.
    pub fn parse(text: &str) -> Option<Version> {
        let head: String = text
            .trim()
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let mut parts = head
            .split('.')
            .filter(|p| !p.is_empty())
            .map(|p| p.parse::<u32>());
        let major = parts.next()?.ok()?;
        let minor = parts.next().and_then(Result::ok).unwrap_or(0);
        let patch = parts.next().and_then(Result::ok).unwrap_or(0);
        Some(Version {
            major,
            minor,
            patch,
        })
    }

    /// The version a catalog describes when the server's is not known.
    pub fn default_for(engine: Engine) -> Version {
        match engine {
            Engine::Postgres => Version::new(15, 0, 0),
            Engine::Mysql => Version::new(8, 0, 36),
            Engine::Mariadb => Version::new(10, 11, 0),
        }
    }

    /// Whether dbtuner's catalog covers this version (others work from live discovery).
    pub fn is_supported(self, engine: Engine) -> bool {
        match engine {
            Engine::Postgres => (13..=18).contains(&self.major),
            Engine::Mysql => self.major == 8 && self.minor == 0,
            Engine::Mariadb => (self.major == 10 && self.minor >= 6) || self.major == 11,
        }
    }

    /// Does `self` fall at or below a bound given as "16", "10.5" or "8.0.29"? A bound with
    /// fewer parts covers every release below it ("10.5" includes 10.5.x).
    pub(crate) fn at_most(self, bound: &str) -> bool {
        let Some(b) = Version::parse(bound) else {
            return true;
        };
        let parts = bound.split('.').count();
        match parts {
            1 => self.major <= b.major,
            2 => (self.major, self.minor) <= (b.major, b.minor),
            _ => self <= b,
        }
    }

    pub(crate) fn at_least(self, bound: &str) -> bool {
        Version::parse(bound).is_none_or(|b| self >= b)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_servers_report() {
        assert_eq!(
            Version::parse("15.18 (Debian 15.18-0+deb12u1)"),
            Some(Version::new(15, 18, 0))
        );
        assert_eq!(
            Version::parse("10.11.14-MariaDB-0+deb12u2"),
            Some(Version::new(10, 11, 14))
        );
        assert_eq!(Version::parse("8.0.36"), Some(Version::new(8, 0, 36)));
        assert_eq!(Version::parse("17beta1"), Some(Version::new(17, 0, 0)));
        assert_eq!(Version::parse("MariaDB"), None);
    }

    #[test]
    fn bounds_cover_whole_releases() {
        let v = Version::new(10, 5, 22);
        assert!(
            v.at_most("10.5") && !v.at_most("10.4") && v.at_least("10.5") && !v.at_least("10.6")
        );
        assert!(Version::new(16, 4, 0).at_most("16"));
        assert!(
            !Version::new(8, 0, 30).at_most("8.0.29") && Version::new(8, 0, 30).at_least("8.0.30")
        );
        assert!(
            Version::new(18, 4, 0).is_supported(Engine::Postgres)
                && !Version::new(12, 0, 0).is_supported(Engine::Postgres)
                && !Version::new(19, 0, 0).is_supported(Engine::Postgres)
        );
    }
}
