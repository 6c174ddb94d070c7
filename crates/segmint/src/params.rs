//! Parameters given by name from a front end (Python keywords, a JSON object): the defaults
//! of a params struct with some fields replaced, every name checked.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};

/// `defaults` with the fields of the JSON object `overrides` replaced (nested objects are
/// merged field by field). A name the struct does not have is an error that lists the known
/// names; a value of the wrong type is an error naming the field.
pub fn with_overrides<T: Serialize + DeserializeOwned>(
    defaults: &T,
    overrides: &Value,
) -> Result<T> {
    let mut merged = serde_json::to_value(defaults).map_err(|e| Error::Data(e.to_string()))?;
    merge(&mut merged, overrides, "")?;
    serde_json::from_value(merged).map_err(|e| Error::Config(format!("parameters: {e}")))
}

/// A named choice (`"first"`, `"week"`, `"tree"`, ...) of a parameter `what`, as its enum
/// spells it in JSON; the error names the parameter and the known choices.
pub fn choice<T: DeserializeOwned>(what: &str, value: &str) -> Result<T> {
    serde_json::from_value(Value::String(value.to_string()))
        .map_err(|e| Error::Config(format!("{what}: {e}")))
}

fn merge(base: &mut Value, over: &Value, path: &str) -> Result<()> {
    let Some(over) = over.as_object() else {
        return Err(Error::Config(format!(
            "parameters{}: expected an object of names and values",
            if path.is_empty() {
                String::new()
            } else {
                format!(" {path}")
            }
        )));
    };
    let Some(base) = base.as_object_mut() else {
        return Err(Error::Config(format!(
            "parameter {path} takes a value, not an object"
        )));
    };
    for (key, value) in over {
        let name = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        match base.get_mut(key) {
            None => {
                let mut known: Vec<&String> = base.keys().collect();
                known.sort();
                let known: Vec<&str> = known.iter().map(|s| s.as_str()).collect();
                return Err(Error::Config(format!(
                    "unknown parameter {name:?} (known: {})",
                    known.join(", ")
                )));
            }
            Some(slot) if slot.is_object() && value.is_object() => merge(slot, value, &name)?,
            Some(slot) => *slot = value.clone(),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uplift::CompareParams;

    #[test]
    fn overrides_replace_named_fields_and_keep_the_rest() {
        let p: CompareParams = with_overrides(
            &CompareParams::default(),
            &serde_json::json!({"seed": 7, "methods": ["tree"], "min_effect": 0.1}),
        )
        .unwrap();
        assert_eq!(p.seed, 7);
        assert_eq!(p.methods.len(), 1);
        assert_eq!(p.min_effect, Some(0.1));
        assert_eq!(p.max_conditions, CompareParams::default().max_conditions);
    }

    #[test]
    fn unknown_names_and_wrong_types_are_named() {
        let e = with_overrides(&CompareParams::default(), &serde_json::json!({"sed": 1}))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown parameter \"sed\"") && e.contains("seed"),
            "{e}"
        );
        let e = with_overrides(&CompareParams::default(), &serde_json::json!({"seed": "x"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("parameters:"), "{e}");
        let t: crate::segment::Ties = choice("ties", "average").unwrap();
        assert_eq!(t, crate::segment::Ties::Average);
        let e = choice::<crate::segment::Ties>("ties", "dense")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("ties: unknown variant `dense`, expected `first` or `average`"),
            "{e}"
        );
    }
}
