//! The shared vocabulary of observations and agreements (DESIGN §5, contract).
//!
//! Event types, weapon classes, targets and observer modes appear in three places that must agree
//! byte for byte: observation payloads in the ledger, the `events` / `weapon.classes` / `targets`
//! lists of an agreement's rules, and every JSON output. Each enum therefore has exactly one
//! spelling per value — the kebab-case string of DESIGN §5 — used by [`FromStr`], [`Display`],
//! `as_str` and serde alike, and an `ALL` constant listing the values in the order of the design.
//!
//! The enums are deliberately *not* `#[non_exhaustive]`: the engine matches on them, and when the
//! taxonomy is extended every exhaustive match in the workspace should fail to compile until it
//! has been taught the new value.
//!
//! [`FromStr`]: std::str::FromStr
//! [`Display`]: std::fmt::Display

use std::fmt;

/// The error of parsing one of the string enums of this crate: names the kind of value, the value
/// that was given and the accepted spellings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownValue {
    /// What was being parsed, e.g. `"event type"`.
    pub kind: &'static str,
    /// The rejected input.
    pub value: String,
    /// The accepted spellings.
    pub expected: &'static [&'static str],
}

impl fmt::Display for UnknownValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown {} `{}` (expected one of: {})",
            self.kind,
            self.value.escape_debug(),
            self.expected.join(", ")
        )
    }
}

impl std::error::Error for UnknownValue {}

/// Defines a fieldless enum whose values have exactly one string spelling, with `as_str`, `ALL`,
/// `NAMES`, `FromStr`, `Display`, `Serialize` and `Deserialize` all derived from that spelling.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident : $kind:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in the order of the design document.
            pub const ALL: &'static [$name] = &[ $( $name::$variant, )+ ];
            /// The spelling of every value, in the order of [`Self::ALL`].
            pub const NAMES: &'static [&'static str] = &[ $( $text, )+ ];

            /// The canonical (contract) spelling.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::taxonomy::UnknownValue;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $( $text => Ok($name::$variant), )+
                    _ => Err($crate::taxonomy::UnknownValue {
                        kind: $kind,
                        value: s.to_owned(),
                        expected: Self::NAMES,
                    }),
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <::std::borrow::Cow<'de, str> as ::serde::Deserialize>::deserialize(d)?;
                s.parse().map_err(|_| {
                    <D::Error as ::serde::de::Error>::unknown_variant(&s, Self::NAMES)
                })
            }
        }
    };
}
pub(crate) use string_enum;

string_enum! {
    /// The family of an event type. Only observations whose event types share a family are
    /// clustered into one incident (DESIGN §6).
    pub enum Family: "event family" {
        /// Something was fired or exploded.
        Fire = "fire",
        /// Weapons, forces or works were present where they should not be.
        Presence = "presence",
        /// Damage, casualties, mines.
        Harm = "harm",
        /// Interference with the monitoring mission itself.
        Mission = "mission",
    }
}

string_enum! {
    /// What was observed (DESIGN §5).
    pub enum EventType: "event type" {
        /// An explosion of undetermined kind (fire family).
        Explosion = "explosion",
        /// An incoming round landing.
        Impact = "impact",
        /// An outgoing round being fired.
        Outgoing = "outgoing",
        /// A round exploding in the air.
        Airburst = "airburst",
        /// A projectile in flight.
        Projectile = "projectile",
        /// A muzzle flash.
        MuzzleFlash = "muzzle-flash",
        /// Illumination (flares).
        Illumination = "illumination",
        /// A burst of automatic fire.
        Burst = "burst",
        /// A single shot.
        Shot = "shot",
        /// An air, missile or drone strike.
        Strike = "strike",
        /// A weapon seen where it is (presence family).
        WeaponSighting = "weapon-sighting",
        /// Armed forces present.
        ForcesPresence = "forces-presence",
        /// Fortification works.
        Fortification = "fortification",
        /// Damage (harm family).
        Damage = "damage",
        /// Casualties.
        Casualty = "casualty",
        /// Mines.
        Mine = "mine",
        /// The mission was denied access (mission family).
        AccessRestriction = "access-restriction",
        /// The mission's sensors were interfered with.
        SensorInterference = "sensor-interference",
    }
}

impl EventType {
    /// The family this event type belongs to (DESIGN §5).
    pub const fn family(self) -> Family {
        use EventType::*;
        match self {
            Explosion | Impact | Outgoing | Airburst | Projectile | MuzzleFlash | Illumination
            | Burst | Shot | Strike => Family::Fire,
            WeaponSighting | ForcesPresence | Fortification => Family::Presence,
            Damage | Casualty | Mine => Family::Harm,
            AccessRestriction | SensorInterference => Family::Mission,
        }
    }
}

string_enum! {
    /// Classes of weapons (DESIGN §5); a calibre in millimetres may accompany them.
    pub enum WeaponClass: "weapon class" {
        /// Rifles, pistols, light machine guns.
        SmallArms = "small-arms",
        /// Heavy machine guns.
        HeavyMachineGun = "heavy-machine-gun",
        /// Grenade launchers.
        GrenadeLauncher = "grenade-launcher",
        /// Mortars.
        Mortar = "mortar",
        /// Tube artillery.
        Artillery = "artillery",
        /// Tanks.
        Tank = "tank",
        /// Multiple-launch rocket systems.
        Mlrs = "mlrs",
        /// Missiles.
        Missile = "missile",
        /// Aircraft.
        Aircraft = "aircraft",
        /// Drones.
        Drone = "drone",
        /// Naval weapons.
        Naval = "naval",
    }
}

string_enum! {
    /// What an event hit or was aimed at (DESIGN §5).
    pub enum Target: "target" {
        /// Civilians and civilian objects in general.
        Civilian = "civilian",
        /// Energy infrastructure.
        Energy = "energy",
        /// Water supply.
        Water = "water",
        /// Medical facilities.
        Medical = "medical",
        /// Schools and universities.
        Education = "education",
        /// Roads, rail, bridges.
        Transport = "transport",
        /// Ports.
        Port = "port",
        /// Military objects.
        Military = "military",
    }
}

string_enum! {
    /// How an observer perceived an event (DESIGN §5).
    pub enum ObserverMode: "observer mode" {
        /// Heard only.
        Heard = "heard",
        /// Seen with own eyes.
        Seen = "seen",
        /// Fixed camera.
        Camera = "camera",
        /// Unmanned aerial vehicle.
        Uav = "uav",
        /// Satellite imagery.
        Satellite = "satellite",
        /// An automated sensor (acoustic, seismic, ...).
        Sensor = "sensor",
        /// Reported by a third person.
        Reported = "reported",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn roundtrip<T>(all: &[T], names: &[&str])
    where
        T: FromStr<Err = UnknownValue>
            + fmt::Display
            + fmt::Debug
            + PartialEq
            + Copy
            + serde::Serialize
            + serde::de::DeserializeOwned,
    {
        assert_eq!(all.len(), names.len());
        for (v, name) in all.iter().zip(names) {
            assert_eq!(v.to_string(), *name);
            assert_eq!(name.parse::<T>().ok(), Some(*v));
            let json = serde_json::to_string(v).unwrap_or_default();
            assert_eq!(json, format!("\"{name}\""));
            let back: T = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(back, *v);
        }
    }

    #[test]
    fn spellings_are_the_contract_ones() {
        roundtrip(EventType::ALL, EventType::NAMES);
        roundtrip(WeaponClass::ALL, WeaponClass::NAMES);
        roundtrip(Target::ALL, Target::NAMES);
        roundtrip(ObserverMode::ALL, ObserverMode::NAMES);
        roundtrip(Family::ALL, Family::NAMES);
        assert_eq!(
            EventType::NAMES,
            [
                "explosion",
                "impact",
                "outgoing",
                "airburst",
                "projectile",
                "muzzle-flash",
                "illumination",
                "burst",
                "shot",
                "strike",
                "weapon-sighting",
                "forces-presence",
                "fortification",
                "damage",
                "casualty",
                "mine",
                "access-restriction",
                "sensor-interference"
            ]
        );
        assert_eq!(
            WeaponClass::NAMES,
            [
                "small-arms",
                "heavy-machine-gun",
                "grenade-launcher",
                "mortar",
                "artillery",
                "tank",
                "mlrs",
                "missile",
                "aircraft",
                "drone",
                "naval"
            ]
        );
        assert_eq!(
            Target::NAMES,
            [
                "civilian",
                "energy",
                "water",
                "medical",
                "education",
                "transport",
                "port",
                "military"
            ]
        );
        assert_eq!(
            ObserverMode::NAMES,
            [
                "heard",
                "seen",
                "camera",
                "uav",
                "satellite",
                "sensor",
                "reported"
            ]
        );
    }

    #[test]
    fn families() {
        let count = |f: Family| EventType::ALL.iter().filter(|e| e.family() == f).count();
        assert_eq!(count(Family::Fire), 10);
        assert_eq!(count(Family::Presence), 3);
        assert_eq!(count(Family::Harm), 3);
        assert_eq!(count(Family::Mission), 2);
        assert_eq!(EventType::Strike.family(), Family::Fire);
        assert_eq!(EventType::WeaponSighting.family(), Family::Presence);
        assert_eq!(EventType::Mine.family(), Family::Harm);
        assert_eq!(EventType::SensorInterference.family(), Family::Mission);
    }

    #[test]
    fn unknown_values_are_rejected_with_the_accepted_spellings() {
        let err = "Explosion".parse::<EventType>().err();
        let msg = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.starts_with("unknown event type `Explosion`"), "{msg}");
        assert!(msg.contains("muzzle-flash"), "{msg}");
        assert!("muzzle_flash".parse::<EventType>().is_err());
        assert!("".parse::<Target>().is_err());
        assert!(serde_json::from_str::<WeaponClass>("\"howitzer\"").is_err());
        assert!(serde_json::from_str::<WeaponClass>("3").is_err());
    }
}
