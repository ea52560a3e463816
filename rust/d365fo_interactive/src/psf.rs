//! PSFramework's persisted configuration format, which is this module's store: the same file (or, on Windows,
//! the same registry values) that d365fo.integrations writes with `Register-PSFConfig -Scope UserDefault`, so
//! both modules see one set of OData configurations. No PSFramework code is used; the format is read and
//! written here.
//!
//! Facts taken from PSFramework's public source (PowershellFrameworkCollective/psframework, 1.13):
//! - The file is `ConvertTo-Json` of items `{"FullName":..,"Value":..,"Version":1,"Type":6,"Style":"default"}`
//!   where Type is PSFramework's ConfigurationValueType (1 Null, 2 Bool, 3 Int, 4 Double, 5 Long, 6 String,
//!   12 Object as compressed CliXml); `{"Version":1,"FullName":..,"Data":..}` for simple exports; a file with
//!   one item holds an object rather than an array; Windows PowerShell writes a UTF-8 BOM.
//! - Writers read the whole file, replace the items they change, and write it all back.
//! - In the registry each item is a REG_SZ value named by the full name, its data `<TypeName>:<value>`
//!   (e.g. `String:https://uat.example.com`, `Bool:true`).
//!
//! Items this module does not know are kept as they were: their place in the file and their content.

use serde_json::{Map, Value, json};

/// One value as PSFramework persists it, reduced to what this module reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// A string, or a number or boolean as its text.
    Text(String),
    Null,
    /// A type this module does not read (Object, Array, …); kept as is.
    Other,
}

impl Stored {
    pub fn text(&self) -> Option<&str> {
        match self {
            Stored::Text(s) => Some(s),
            _ => None,
        }
    }
}

/// A value to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewValue {
    Text(String),
    Bool(bool),
    /// A whole number (PSFramework's Int: what Set-PSFConfig stores for an [int]).
    Int(i32),
}

impl NewValue {
    /// The item PSFramework would write for it.
    fn item(&self, full_name: &str) -> Value {
        let (value, ty) = match self {
            NewValue::Text(s) => (s.clone(), 6),
            NewValue::Bool(b) => (b.to_string(), 2),
            NewValue::Int(n) => (n.to_string(), 3),
        };
        json!({ "FullName": full_name, "Value": value, "Version": 1, "Type": ty, "Style": "default" })
    }

    /// The registry data PSFramework would write for it.
    pub fn registry_data(&self) -> String {
        match self {
            NewValue::Text(s) => format!("String:{s}"),
            NewValue::Bool(b) => format!("Bool:{b}"),
            NewValue::Int(n) => format!("Int:{n}"),
        }
    }

    /// As JSON, for the cmdlets to mirror into PSFramework's live configuration.
    pub fn to_json(&self) -> Value {
        match self {
            NewValue::Text(s) => json!(s),
            NewValue::Bool(b) => json!(b),
            NewValue::Int(n) => json!(n),
        }
    }
}

/// A PSFramework configuration file in memory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PsfFile {
    items: Vec<Value>,
}

fn full_name_of(item: &Value) -> Option<&str> {
    item.get("FullName").and_then(Value::as_str)
}

impl PsfFile {
    /// Parses a file's bytes; an empty file is an empty configuration.
    pub fn parse(bytes: &[u8]) -> Result<PsfFile, String> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let text = std::str::from_utf8(bytes).map_err(|_| "it is not UTF-8".to_string())?;
        if text.trim().is_empty() {
            return Ok(PsfFile::default());
        }
        let items = match serde_json::from_str::<Value>(text).map_err(|e| format!("it is not valid JSON ({e})"))? {
            Value::Array(a) => a,
            o @ Value::Object(_) => vec![o],
            _ => return Err("it is neither a JSON object nor an array".into()),
        };
        Ok(PsfFile { items })
    }

    /// The file's text: a JSON array (even of one item), indented, ending with a newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut text = serde_json::to_string_pretty(&Value::Array(self.items.clone())).unwrap_or_else(|_| "[]".into());
        text.push('\n');
        text.into_bytes()
    }

    /// Every item with a full name, in file order: (full name as written, value).
    pub fn entries(&self) -> Vec<(String, Stored)> {
        self.items.iter().filter_map(|i| Some((full_name_of(i)?.to_string(), decode_item(i)))).collect()
    }

    /// The value of `full_name` (names compare without regard to case, as in PSFramework).
    pub fn get(&self, full_name: &str) -> Option<Stored> {
        self.items.iter().rev().find(|i| full_name_of(i).is_some_and(|n| n.eq_ignore_ascii_case(full_name))).map(decode_item)
    }

    /// Sets `full_name`, in place when it exists (first occurrence; later duplicates are dropped), else at the end.
    pub fn set(&mut self, full_name: &str, value: &NewValue) {
        let item = value.item(full_name);
        let mut found = false;
        self.items.retain_mut(|i| {
            if !full_name_of(i).is_some_and(|n| n.eq_ignore_ascii_case(full_name)) {
                return true;
            }
            if found {
                return false;
            }
            found = true;
            *i = item.clone();
            true
        });
        if !found {
            self.items.push(item);
        }
    }

    /// Removes `full_name`.
    pub fn remove(&mut self, full_name: &str) {
        self.items.retain(|i| !full_name_of(i).is_some_and(|n| n.eq_ignore_ascii_case(full_name)));
    }
}

fn decode_item(item: &Value) -> Stored {
    let version = item.get("Version").and_then(Value::as_i64);
    let style = item.get("Style").and_then(Value::as_str).unwrap_or("");
    if version == Some(1) && (style.is_empty() || style.eq_ignore_ascii_case("simple")) {
        return match item.get("Data") {
            None | Some(Value::Null) => Stored::Null,
            Some(Value::String(s)) => Stored::Text(s.clone()),
            Some(Value::Bool(b)) => Stored::Text(b.to_string()),
            Some(Value::Number(n)) => Stored::Text(n.to_string()),
            Some(_) => Stored::Other,
        };
    }
    let ty = match item.get("Type") {
        Some(Value::Number(n)) => match n.as_i64() {
            Some(1) => "null",
            Some(2) => "bool",
            Some(3) => "int",
            Some(4) => "double",
            Some(5) => "long",
            Some(6) => "string",
            _ => "other",
        }
        .to_string(),
        Some(Value::String(s)) => s.to_ascii_lowercase(),
        _ => "string".to_string(),
    };
    match (ty.as_str(), item.get("Value")) {
        ("null", _) => Stored::Null,
        ("string" | "bool" | "int" | "double" | "long", Some(Value::String(s))) => Stored::Text(s.clone()),
        ("string" | "bool" | "int" | "double" | "long", Some(Value::Null) | None) => Stored::Null,
        _ => Stored::Other,
    }
}

/// Parses a registry value's type-qualified data (`String:value`).
pub fn parse_registry_data(data: &str) -> Stored {
    match data.split_once(':') {
        Some((ty, value)) => match ty.to_ascii_lowercase().as_str() {
            "null" => Stored::Null,
            "string" | "bool" | "int" | "double" | "long" => Stored::Text(value.to_string()),
            _ => Stored::Other,
        },
        None => Stored::Other,
    }
}

/// A map of full name → value, however stored (file or registry), with the order of first appearance.
pub type Entries = Vec<(String, Stored)>;

/// The value of `full_name` in `entries` (the last occurrence wins, as when PSFramework reads them in order).
pub fn lookup<'a>(entries: &'a Entries, full_name: &str) -> Option<&'a Stored> {
    entries.iter().rev().find(|(n, _)| n.eq_ignore_ascii_case(full_name)).map(|(_, v)| v)
}

/// A shape-preserving copy of an object value (for tests and diagnostics).
pub fn object_keys(v: &Value) -> Vec<String> {
    v.as_object().map(Map::keys).map(|k| k.cloned().collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const WRITTEN_BY_PSFRAMEWORK: &str = r#"[
  { "FullName": "d365fo.integrations.odata.uat.tenant", "Value": "contoso.onmicrosoft.com", "Version": 1, "Type": 6, "Style": "default" },
  { "FullName": "d365fo.integrations.odata.uat.enableexception", "Value": "H4sIAAAAAAAAA22OQW6DMBBF9zmF5Q", "Version": 1, "Type": 12, "Style": "default" },
  { "FullName": "d365fo.integrations.odata.uat.name", "Value": "UAT", "Version": 1, "Type": 6, "Style": "default" },
  { "FullName": "other.module.flag", "Value": "true", "Version": 1, "Type": 2, "Style": "default" }
]"#;

    #[test]
    fn reads_what_psframework_writes() {
        let f = PsfFile::parse(WRITTEN_BY_PSFRAMEWORK.as_bytes()).unwrap();
        assert_eq!(f.get("D365FO.integrations.odata.UAT.name"), Some(Stored::Text("UAT".into())));
        assert_eq!(f.get("d365fo.integrations.odata.uat.enableexception"), Some(Stored::Other));
        assert_eq!(f.get("other.module.flag"), Some(Stored::Text("true".into())));
        assert_eq!(f.get("missing"), None);
        assert_eq!(f.entries().len(), 4);
    }

    #[test]
    fn reads_simple_items_a_single_object_a_bom_and_an_empty_file() {
        let one = b"\xEF\xBB\xBF{\"Version\":1,\"FullName\":\"A.B\",\"Data\":\"v\"}";
        assert_eq!(PsfFile::parse(one).unwrap().get("a.b"), Some(Stored::Text("v".into())));
        assert_eq!(PsfFile::parse(b"  \n").unwrap(), PsfFile::default());
        assert!(PsfFile::parse(b"[{").unwrap_err().contains("not valid JSON"));
        assert!(PsfFile::parse(b"5").is_err());
        assert!(PsfFile::parse(b"\xff").unwrap_err().contains("UTF-8"));
    }

    #[test]
    fn writes_keep_foreign_items_and_order_and_replace_in_place() {
        let mut f = PsfFile::parse(WRITTEN_BY_PSFRAMEWORK.as_bytes()).unwrap();
        f.set("d365fo.integrations.odata.uat.tenant", &NewValue::Text("fabrikam.onmicrosoft.com".into()));
        f.set("d365fo.interactive.nobrowser", &NewValue::Bool(true));
        let back = PsfFile::parse(&f.to_bytes()).unwrap();
        let names: Vec<String> = back.entries().into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "d365fo.integrations.odata.uat.tenant",
                "d365fo.integrations.odata.uat.enableexception",
                "d365fo.integrations.odata.uat.name",
                "other.module.flag",
                "d365fo.interactive.nobrowser"
            ]
        );
        assert_eq!(back.get("d365fo.integrations.odata.uat.tenant"), Some(Stored::Text("fabrikam.onmicrosoft.com".into())));
        assert_eq!(back.get("d365fo.interactive.nobrowser"), Some(Stored::Text("true".into())));
        // The foreign serialized object is byte-for-byte the same item.
        let raw: Value = serde_json::from_slice(&back.to_bytes()).unwrap();
        assert_eq!(raw[1]["Value"], json!("H4sIAAAAAAAAA22OQW6DMBBF9zmF5Q"));
        assert_eq!(raw[1]["Type"], json!(12));
        let mut keys = object_keys(&raw[0]);
        keys.sort();
        assert_eq!(keys, ["FullName", "Style", "Type", "Value", "Version"]);
        f.remove("OTHER.module.flag");
        assert_eq!(f.get("other.module.flag"), None);
    }

    #[test]
    fn whole_numbers_are_written_as_psframework_ints() {
        let mut f = PsfFile::default();
        f.set("d365fo.interactive.httptimeoutseconds", &NewValue::Int(12));
        let raw: Value = serde_json::from_slice(&f.to_bytes()).unwrap();
        assert_eq!((raw[0]["Value"].clone(), raw[0]["Type"].clone()), (json!("12"), json!(3)));
        assert_eq!(PsfFile::parse(&f.to_bytes()).unwrap().get("d365fo.interactive.httptimeoutseconds"), Some(Stored::Text("12".into())));
        assert_eq!(NewValue::Int(12).registry_data(), "Int:12");
    }

    #[test]
    fn a_single_item_is_still_written_as_an_array() {
        let mut f = PsfFile::default();
        f.set("a.b", &NewValue::Text("x".into()));
        assert!(String::from_utf8(f.to_bytes()).unwrap().trim_start().starts_with('['));
    }

    #[test]
    fn registry_data() {
        assert_eq!(parse_registry_data("String:a:b"), Stored::Text("a:b".into()));
        assert_eq!(parse_registry_data("Bool:true"), Stored::Text("true".into()));
        assert_eq!(parse_registry_data("Null:"), Stored::Null);
        assert_eq!(parse_registry_data("Object:xyz"), Stored::Other);
        assert_eq!(parse_registry_data("nocolon"), Stored::Other);
        assert_eq!(NewValue::Bool(false).registry_data(), "Bool:false");
        assert_eq!(NewValue::Text("https://x".into()).registry_data(), "String:https://x");
    }
}
