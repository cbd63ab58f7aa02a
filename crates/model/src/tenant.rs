//! Tenants: `accountID[:projectID]`, as in VictoriaMetrics cluster URLs.

use std::fmt;
use std::str::FromStr;

/// A tenant. Single-node mode uses [`Tenant::DEFAULT`] (`0:0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Tenant {
    pub account_id: u32,
    pub project_id: u32,
}

impl Tenant {
    pub const DEFAULT: Tenant = Tenant {
        account_id: 0,
        project_id: 0,
    };

    pub fn new(account_id: u32, project_id: u32) -> Tenant {
        Tenant {
            account_id,
            project_id,
        }
    }
}

impl fmt::Display for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.account_id, self.project_id)
    }
}

/// A tenant string that is not `accountID` or `accountID:projectID`; holds the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid tenant {0:?}: want accountID or accountID:projectID with 32-bit unsigned integers"
)]
pub struct TenantParseError(pub String);

impl FromStr for Tenant {
    type Err = TenantParseError;
    fn from_str(s: &str) -> Result<Tenant, TenantParseError> {
        let err = || TenantParseError(s.to_string());
        let (a, p) = match s.split_once(':') {
            Some((a, p)) => (a, p),
            None => (s, "0"),
        };
        Ok(Tenant {
            account_id: a.parse().map_err(|_| err())?,
            project_id: p.parse().map_err(|_| err())?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_forms() {
        assert_eq!("42".parse::<Tenant>().unwrap(), Tenant::new(42, 0));
        assert_eq!("1:2".parse::<Tenant>().unwrap(), Tenant::new(1, 2));
        assert!("x".parse::<Tenant>().is_err());
        assert!("1:".parse::<Tenant>().is_err());
        assert!("4294967296".parse::<Tenant>().is_err());
        assert_eq!(Tenant::new(1, 2).to_string(), "1:2");
    }
}
