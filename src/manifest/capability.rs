//! Module capabilities: what database features a module declares it can work with.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ManifestError;

macro_rules! capabilities {
    ($($variant:ident => $name:literal, $feature:literal;)*) => {
        /// One of the capability names RS and RAMP know.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Capability {
            $(
                #[doc = concat!("`", $name, "`: ", $feature)]
                $variant,
            )*
        }

        impl Capability {
            /// Every known capability, in the order RS lists them.
            pub const ALL: &'static [Capability] = &[$(Capability::$variant),*];

            /// The name as written in `module.json`.
            pub fn name(self) -> &'static str {
                match self { $(Capability::$variant => $name,)* }
            }

            /// The database feature this capability allows.
            pub fn feature(self) -> &'static str {
                match self { $(Capability::$variant => $feature,)* }
            }
        }

        impl FromStr for Capability {
            type Err = ManifestError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s.trim() {
                    $($name => Ok(Capability::$variant),)*
                    other => Err(ManifestError::UnknownCapability(other.to_string())),
                }
            }
        }
    };
}

capabilities! {
    Types => "types", "the module defines its own data types";
    NoMultiKey => "no_multi_key", "the module has no multi-key commands";
    ReplicaOf => "replica_of", "Replica Of (active-passive replication between databases)";
    BackupRestore => "backup_restore", "backup, import and export";
    EvictionExpiry => "eviction_expiry", "eviction and expiry";
    ReshardRebalance => "reshard_rebalance", "resharding and rebalancing (scaling)";
    FailoverMigrate => "failover_migrate", "shard failover and migration";
    PersistenceAof => "persistence_aof", "AOF persistence";
    PersistenceRdb => "persistence_rdb", "snapshot (RDB) persistence";
    HashPolicy => "hash_policy", "a custom hashing policy";
    Flash => "flash", "Auto Tiering (Redis on Flash)";
    Crdb => "crdb", "Active-Active (CRDB)";
    Clustering => "clustering", "sharding and shard migration";
    IntershardTls => "intershard_tls", "TLS between shards";
    IntershardTlsPass => "intershard_tls_pass", "TLS between shards with a password";
    Ipv6 => "ipv6", "IPv6 between shards";
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A capability as written in a `module.json`: a known [`Capability`], or a name rmpack does not
/// know (kept so that reading never fails on it; packing refuses it unless told otherwise, and the
/// validator reports it).
///
/// ```
/// use rmpack::manifest::{Capability, CapabilityName};
///
/// let known = CapabilityName::parse("replica_of", false).unwrap();
/// assert_eq!(known, CapabilityName::Known(Capability::ReplicaOf));
/// assert!(CapabilityName::parse("multi_exec", false).is_err());
/// assert!(matches!(CapabilityName::parse("multi_exec", true), Ok(CapabilityName::Unknown(_))));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CapabilityName {
    /// One of the known names.
    Known(Capability),
    /// Any other name.
    Unknown(String),
}

impl CapabilityName {
    /// The name as written in `module.json`.
    pub fn as_str(&self) -> &str {
        match self {
            CapabilityName::Known(c) => c.name(),
            CapabilityName::Unknown(s) => s,
        }
    }

    /// Parses a name, refusing unknown ones unless `allow_unknown`.
    pub fn parse(name: &str, allow_unknown: bool) -> Result<Self, ManifestError> {
        match name.parse::<Capability>() {
            Ok(c) => Ok(CapabilityName::Known(c)),
            Err(e) if !allow_unknown => Err(e),
            Err(_) => Ok(CapabilityName::Unknown(name.trim().to_string())),
        }
    }
}

impl From<Capability> for CapabilityName {
    fn from(c: Capability) -> Self {
        CapabilityName::Known(c)
    }
}

impl fmt::Display for CapabilityName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for CapabilityName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CapabilityName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        CapabilityName::parse(&name, true).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixteen_known_names_round_trip() {
        assert_eq!(Capability::ALL.len(), 16);
        for c in Capability::ALL {
            assert_eq!(c.name().parse::<Capability>().unwrap(), *c);
        }
    }

    #[test]
    fn unknown_names_are_refused_unless_allowed() {
        assert!(CapabilityName::parse("multi_exec", false).is_err());
        assert_eq!(
            CapabilityName::parse("multi_exec", true).unwrap(),
            CapabilityName::Unknown("multi_exec".into())
        );
    }
}
