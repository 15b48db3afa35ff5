//! The strict reading of a JSON object: its fields in order, each value kept as raw text and
//! decoded on its own, so that a value the decoder cannot hold (nested deeper than 128 levels, a
//! number outside the 64-bit range) or a field given twice is refused naming that field, instead
//! of making the whole body unreadable.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// A JSON object's fields, in order, values undecoded. Skipping a raw value is iterative in
/// serde_json, so any depth is read here without recursion.
pub struct RawFields(Vec<(String, Box<RawValue>)>);

/// Why one field could not be taken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.field, self.reason)
    }
}

impl<'de> Deserialize<'de> for RawFields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = RawFields;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawFields, A::Error> {
                let mut fields = Vec::new();
                while let Some(entry) = map.next_entry::<String, Box<RawValue>>()? {
                    fields.push(entry);
                }
                Ok(RawFields(fields))
            }
        }
        deserializer.deserialize_map(Fields)
    }
}

impl RawFields {
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// One field's decoded value; `None` when absent, given twice, or undecodable.
    pub fn value(&self, name: &str) -> Option<Value> {
        let mut matches = self.0.iter().filter(|(k, _)| k == name);
        let (_, raw) = matches.next()?;
        if matches.next().is_some() {
            return None;
        }
        serde_json::from_str(raw.get()).ok()
    }

    /// Every field decoded. A field given twice, or one that cannot be decoded, is an error
    /// naming it (`prefix` + name). The fields of `nested` objects are read the same way.
    pub fn decode(&self, prefix: &str, nested: &[&str]) -> Result<Map<String, Value>, FieldError> {
        let mut decoded = Map::new();
        for (name, raw) in &self.0 {
            let field = format!("{prefix}{}", printable_name(name));
            if decoded.contains_key(name) {
                return Err(FieldError {
                    field,
                    reason: "is given more than once".to_owned(),
                });
            }
            let value =
                if nested.contains(&name.as_str()) && raw.get().trim_start().starts_with('{') {
                    let inner = RawFields::parse(raw.get()).map_err(|e| FieldError {
                        field: field.clone(),
                        reason: undecodable(&e),
                    })?;
                    Value::Object(inner.decode(&format!("{field}."), &[])?)
                } else {
                    serde_json::from_str(raw.get()).map_err(|e| FieldError {
                        field,
                        reason: undecodable(&e),
                    })?
                };
            decoded.insert(name.clone(), value);
        }
        Ok(decoded)
    }
}

fn undecodable(error: &serde_json::Error) -> String {
    let text = error.to_string();
    if text.contains("recursion limit") {
        "nests deeper than 128 levels".to_owned()
    } else if text.contains("number out of range") {
        "holds a number outside the supported range".to_owned()
    } else {
        "cannot be decoded".to_owned()
    }
}

/// A field name as echoed in a message: printable, at most 64 characters.
pub fn printable_name(name: &str) -> String {
    crate::command::printable(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_fields_in_order_and_decodes_each() {
        let fields = RawFields::parse(r#"{"b":1,"a":{"x":[true]}}"#).unwrap();
        let decoded = fields.decode("", &[]).unwrap();
        assert_eq!(decoded.keys().collect::<Vec<_>>(), ["b", "a"]);
        assert_eq!(fields.value("a"), Some(serde_json::json!({"x":[true]})));
    }

    #[test]
    fn names_the_field_that_cannot_be_decoded() {
        let deep = format!(
            r#"{{"ok":1,"deep":{}{}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        let error = RawFields::parse(&deep)
            .unwrap()
            .decode("", &[])
            .unwrap_err();
        assert_eq!(
            error,
            FieldError {
                field: "deep".into(),
                reason: "nests deeper than 128 levels".into()
            }
        );

        let huge = r#"{"n":1e400}"#;
        let error = RawFields::parse(huge).unwrap().decode("", &[]).unwrap_err();
        assert_eq!(error.field, "n");
        assert!(error.reason.contains("number"));
    }

    #[test]
    fn a_field_given_twice_is_refused_at_any_listed_level() {
        let top = RawFields::parse(r#"{"a":1,"a":2}"#).unwrap();
        assert_eq!(top.decode("", &[]).unwrap_err().field, "a");
        assert_eq!(top.value("a"), None);
        let inner = RawFields::parse(r#"{"params":{"d":"x","d":"y"}}"#).unwrap();
        assert_eq!(inner.decode("", &["params"]).unwrap_err().field, "params.d");
    }

    #[test]
    fn only_objects_are_fields() {
        assert!(RawFields::parse("[1]").is_err());
        assert!(RawFields::parse("{\"a\":").is_err());
        assert!(RawFields::parse(&format!(
            "{{\"a\":{}{}}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        ))
        .is_ok());
    }
}
