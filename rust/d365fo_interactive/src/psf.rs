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
//! Items this module does not change are kept as their exact text: the file is split into the raw text of
//! each top-level item by a small JSON reader of its own (below), which reads only the fields this module
//! needs (FullName, Version, Type, Style, Value, Data) and checks the rest only for well-formedness. So a
//! number of any size, any escape (also a lone surrogate such as `"\ud800"`, which .NET's reader accepts and
//! serde_json refuses), field order and spacing inside an item stay exactly as they were; only items this
//! module sets are written anew.

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

/// A top-level field's value, as far as this module reads it.
#[derive(Debug, Clone, PartialEq)]
enum Scalar {
    /// A string, decoded (a lone surrogate escape becomes U+FFFD here; the raw text keeps it).
    Str(String),
    /// A number, as written.
    Num(String),
    Bool(bool),
    Null,
    /// An object or an array.
    Compound,
}

impl Scalar {
    fn as_i64(&self) -> Option<i64> {
        match self {
            Scalar::Num(n) => n.parse().ok(),
            _ => None,
        }
    }
}

/// The fields of an item this module reads (the last of duplicate keys wins, as with serde_json and .NET).
#[derive(Debug, Clone, Default, PartialEq)]
struct Fields {
    full_name: Option<String>,
    version: Option<Scalar>,
    ty: Option<Scalar>,
    style: Option<Scalar>,
    value: Option<Scalar>,
    data: Option<Scalar>,
}

/// One top-level item: its exact text in the file (or as this module wrote it) and what was read of it.
#[derive(Debug, Clone, PartialEq)]
struct Item {
    raw: String,
    fields: Fields,
}

/// A PSFramework configuration file in memory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PsfFile {
    items: Vec<Item>,
}

/// What `PsfFile::parse_torn` found.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// The whole file is one JSON array or object.
    Whole(PsfFile),
    /// One complete array of PSFramework items, then leftover text from byte `leftover_at` on (PSFramework's
    /// in-place write over a longer file, or two of its writers interleaved).
    Torn { file: PsfFile, leftover_at: usize },
}

impl PsfFile {
    /// Parses a file's bytes; an empty file is an empty configuration.
    pub fn parse(bytes: &[u8]) -> Result<PsfFile, String> {
        match Self::parse_torn(bytes)? {
            Parsed::Whole(f) => Ok(f),
            Parsed::Torn { leftover_at, .. } => Err(format!(
                "it is not valid JSON (one complete array, then leftover text at byte {leftover_at}: the file was torn by a writer)"
            )),
        }
    }

    /// Parses a file's bytes, telling a torn file (a complete array of PSFramework items followed by leftover
    /// text) apart from one that is invalid.
    pub fn parse_torn(bytes: &[u8]) -> Result<Parsed, String> {
        let bom = if bytes.starts_with(b"\xEF\xBB\xBF") { 3 } else { 0 };
        let text = std::str::from_utf8(&bytes[bom..]).map_err(|_| "it is not UTF-8".to_string())?;
        if text.trim().is_empty() {
            return Ok(Parsed::Whole(PsfFile::default()));
        }
        let mut p = Reader { s: text.as_bytes(), pos: 0 };
        p.ws();
        let (items, is_array) = match p.peek() {
            Some(b'[') => (p.top_array(text)?, true),
            Some(b'{') => {
                let start = p.pos;
                let fields = p.object_fields(0)?;
                (vec![Item { raw: text[start..p.pos].to_string(), fields }], false)
            }
            Some(_) => {
                p.value(0)?;
                return Err("it is neither a JSON object nor an array".into());
            }
            None => unreachable!("the text is not blank"),
        };
        let end = p.pos;
        p.ws();
        if p.pos == p.s.len() {
            return Ok(Parsed::Whole(PsfFile { items }));
        }
        let psf_items = items.iter().all(|i| i.fields.full_name.is_some());
        if is_array && psf_items {
            return Ok(Parsed::Torn { file: PsfFile { items }, leftover_at: bom + end });
        }
        Err(p.error("trailing characters"))
    }

    /// The file's text: a JSON array (even of one item), ending with a newline. Items read from a file are
    /// written as their exact text; items set here are indented as PSFramework's ConvertTo-Json would.
    pub fn to_bytes(&self) -> Vec<u8> {
        if self.items.is_empty() {
            return b"[]\n".to_vec();
        }
        let mut text = String::from("[\n");
        for (n, item) in self.items.iter().enumerate() {
            text.push_str("  ");
            text.push_str(&item.raw);
            text.push_str(if n + 1 < self.items.len() { ",\n" } else { "\n" });
        }
        text.push_str("]\n");
        text.into_bytes()
    }

    /// Every item with a full name, in file order: (full name as written, value).
    pub fn entries(&self) -> Vec<(String, Stored)> {
        self.items.iter().filter_map(|i| Some((i.fields.full_name.clone()?, decode_item(&i.fields)))).collect()
    }

    /// The value of `full_name` (names compare without regard to case, as in PSFramework).
    pub fn get(&self, full_name: &str) -> Option<Stored> {
        self.items.iter().rev().find(|i| i.is_named(full_name)).map(|i| decode_item(&i.fields))
    }

    /// Sets `full_name`, in place when it exists (first occurrence; later duplicates are dropped), else at the end.
    pub fn set(&mut self, full_name: &str, value: &NewValue) {
        let item = Item::new(&value.item(full_name));
        let mut found = false;
        self.items.retain_mut(|i| {
            if !i.is_named(full_name) {
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
        self.items.retain(|i| !i.is_named(full_name));
    }
}

impl Item {
    /// An item this module writes: PSFramework's layout (two-space indent, inside the array's own indent).
    fn new(v: &Value) -> Item {
        let pretty = serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string());
        // JSON strings hold no raw line breaks, so every '\n' is layout.
        let raw = pretty.replace('\n', "\n  ");
        let fields = Reader { s: raw.as_bytes(), pos: 0 }.object_fields(0).unwrap_or_default();
        Item { raw, fields }
    }

    fn is_named(&self, full_name: &str) -> bool {
        self.fields.full_name.as_deref().is_some_and(|n| same_key(n, full_name))
    }
}

/// Deeper than any file PSFramework writes (ConvertTo-Json stops at depth 2 by default); bounds the recursion.
const MAX_DEPTH: usize = 256;

/// A strict JSON reader (RFC 8259 grammar) over the file's text, returning only what this module reads.
struct Reader<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn error(&self, what: &str) -> String {
        let before = &self.s[..self.pos.min(self.s.len())];
        let line = before.iter().filter(|b| **b == b'\n').count() + 1;
        let column = before.iter().rev().take_while(|b| **b != b'\n').count() + 1;
        if self.pos >= self.s.len() {
            return format!("it is not valid JSON (it ends early, at line {line} column {column})");
        }
        format!("it is not valid JSON ({what} at line {line} column {column})")
    }

    fn expect(&mut self, b: u8, what: &str) -> Result<(), String> {
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(what))
        }
    }

    /// The top-level array, as raw item slices of `text`.
    fn top_array(&mut self, text: &str) -> Result<Vec<Item>, String> {
        self.expect(b'[', "expected '['")?;
        let mut items = Vec::new();
        self.ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(items);
        }
        loop {
            self.ws();
            let start = self.pos;
            let fields = if self.peek() == Some(b'{') {
                self.object_fields(1)?
            } else {
                self.value(1)?;
                Fields::default()
            };
            items.push(Item { raw: text[start..self.pos].to_string(), fields });
            self.ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(items);
                }
                _ => return Err(self.error("expected ',' or ']'")),
            }
        }
    }

    /// An object, keeping the fields this module reads.
    fn object_fields(&mut self, depth: usize) -> Result<Fields, String> {
        let mut f = Fields::default();
        self.object(depth, &mut |key, value| match key {
            "FullName" => {
                f.full_name = match value {
                    Scalar::Str(s) => Some(s),
                    _ => None,
                }
            }
            "Version" => f.version = Some(value),
            "Type" => f.ty = Some(value),
            "Style" => f.style = Some(value),
            "Value" => f.value = Some(value),
            "Data" => f.data = Some(value),
            _ => {}
        })?;
        Ok(f)
    }

    fn object(&mut self, depth: usize, field: &mut dyn FnMut(&str, Scalar)) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(self.error("nested too deeply"));
        }
        self.expect(b'{', "expected '{'")?;
        self.ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a key"));
            }
            let key = self.string()?;
            self.ws();
            self.expect(b':', "expected ':'")?;
            self.ws();
            let value = self.value(depth + 1)?;
            field(&key, value);
            self.ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.error("expected ',' or '}'")),
            }
        }
    }

    fn value(&mut self, depth: usize) -> Result<Scalar, String> {
        if depth > MAX_DEPTH {
            return Err(self.error("nested too deeply"));
        }
        match self.peek() {
            Some(b'"') => Ok(Scalar::Str(self.string()?)),
            Some(b'{') => {
                self.object(depth, &mut |_, _| {})?;
                Ok(Scalar::Compound)
            }
            Some(b'[') => {
                self.pos += 1;
                self.ws();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                    return Ok(Scalar::Compound);
                }
                loop {
                    self.ws();
                    self.value(depth + 1)?;
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(Scalar::Compound);
                        }
                        _ => return Err(self.error("expected ',' or ']'")),
                    }
                }
            }
            Some(b't') => self.literal("true", Scalar::Bool(true)),
            Some(b'f') => self.literal("false", Scalar::Bool(false)),
            Some(b'n') => self.literal("null", Scalar::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.error("expected a value")),
        }
    }

    fn literal(&mut self, word: &str, v: Scalar) -> Result<Scalar, String> {
        if self.s[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(v)
        } else {
            Err(self.error("expected a value"))
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<Scalar, String> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.error("invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.error("invalid number"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.error("invalid number"));
            }
        }
        // Only ASCII was consumed.
        Ok(Scalar::Num(String::from_utf8_lossy(&self.s[start..self.pos]).into_owned()))
    }

    fn hex4(&mut self) -> Result<u16, String> {
        let h = self.s.get(self.pos..self.pos + 4).ok_or_else(|| self.error("invalid escape"))?;
        let h = std::str::from_utf8(h).ok().filter(|t| t.bytes().all(|b| b.is_ascii_hexdigit()));
        let n = h.and_then(|t| u16::from_str_radix(t, 16).ok()).ok_or_else(|| self.error("invalid escape"))?;
        self.pos += 4;
        Ok(n)
    }

    /// A string, decoded; a lone surrogate escape decodes to U+FFFD (the item's raw text keeps the escape).
    fn string(&mut self) -> Result<String, String> {
        self.expect(b'"', "expected a string")?;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(b) = self.peek() else { return Err(self.error("unterminated string")) };
            self.pos += 1;
            match b {
                b'"' => return Ok(String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())),
                b'\\' => {
                    let Some(e) = self.peek() else { return Err(self.error("unterminated string")) };
                    self.pos += 1;
                    let c = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            if (0xD800..0xDC00).contains(&hi) && self.s[self.pos..].starts_with(b"\\u") {
                                let save = self.pos;
                                self.pos += 2;
                                let lo = self.hex4()?;
                                if (0xDC00..0xE000).contains(&lo) {
                                    char::from_u32(0x10000 + ((u32::from(hi) - 0xD800) << 10) + (u32::from(lo) - 0xDC00))
                                        .unwrap_or('\u{FFFD}')
                                } else {
                                    self.pos = save;
                                    '\u{FFFD}'
                                }
                            } else {
                                char::from_u32(u32::from(hi)).unwrap_or('\u{FFFD}')
                            }
                        }
                        _ => {
                            self.pos -= 1;
                            return Err(self.error("invalid escape"));
                        }
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                0..=0x1F => {
                    self.pos -= 1;
                    return Err(self.error("control character in a string"));
                }
                _ => out.push(b),
            }
        }
    }
}

fn decode_item(f: &Fields) -> Stored {
    let version = f.version.as_ref().and_then(Scalar::as_i64);
    let style = match &f.style {
        Some(Scalar::Str(s)) => s.as_str(),
        _ => "",
    };
    if version == Some(1) && (style.is_empty() || style.eq_ignore_ascii_case("simple")) {
        return match &f.data {
            None | Some(Scalar::Null) => Stored::Null,
            Some(Scalar::Str(s)) => Stored::Text(s.clone()),
            Some(Scalar::Bool(b)) => Stored::Text(b.to_string()),
            Some(Scalar::Num(n)) => Stored::Text(n.clone()),
            Some(Scalar::Compound) => Stored::Other,
        };
    }
    let ty = match &f.ty {
        Some(n @ Scalar::Num(_)) => match n.as_i64() {
            Some(1) => "null",
            Some(2) => "bool",
            Some(3) => "int",
            Some(4) => "double",
            Some(5) => "long",
            Some(6) => "string",
            _ => "other",
        }
        .to_string(),
        Some(Scalar::Str(s)) => s.to_ascii_lowercase(),
        _ => "string".to_string(),
    };
    match (ty.as_str(), &f.value) {
        ("null", _) => Stored::Null,
        ("string" | "bool" | "int" | "double" | "long", Some(Scalar::Str(s))) => Stored::Text(s.clone()),
        ("string" | "bool" | "int" | "double" | "long", Some(Scalar::Null) | None) => Stored::Null,
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

/// Lower case as .NET's `String.ToLowerInvariant` gives it on every platform: each character by its own
/// (simple) mapping, so a final 'Σ' becomes 'σ', not 'ς', and 'İ' (U+0130), whose only lower case is two
/// characters, stays as it is (checked against pwsh in tests/pester/Interop.Tests.ps1).
pub fn lower_invariant(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c == '\u{130}' {
                return c;
            }
            let mut lower = c.to_lowercase();
            match (lower.next(), lower.next()) {
                (Some(one), None) => one,
                _ => c,
            }
        })
        .collect()
}

/// A name as PSFramework compares keys (invariant culture, ignoring case): a final sigma written by another
/// lower-casing ('ς') is the same letter as 'σ'.
pub fn folded(s: &str) -> String {
    lower_invariant(s).replace('ς', "σ")
}

/// Two names the same as PSFramework's invariant, case-ignoring comparison sees them.
pub fn same_folded(a: &str, b: &str) -> bool {
    folded(a) == folded(b)
}

/// Full names compare as PSFramework compares them (invariant culture, ignoring case), non-ASCII letters too.
fn same_key(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b) || (!a.is_ascii() && !b.is_ascii() && same_folded(a, b))
}

/// The value of `full_name` in `entries` (the last occurrence wins, as when PSFramework reads them in order).
pub fn lookup<'a>(entries: &'a Entries, full_name: &str) -> Option<&'a Stored> {
    entries.iter().rev().find(|(n, _)| same_key(n, full_name)).map(|(_, v)| v)
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

    const FOREIGN: &str = "{\"Style\":\"Simple\",\"Version\":1,\"FullName\":\"other.big\",\"Data\":123456789012345678901234567890}";
    const SURROGATE: &str = "{ \"FullName\" : \"other.odd\", \"Value\": \"a\\ud800b\\uD83D\\uDE00\", \"Type\": 6, \"Version\": 1, \"Style\": \"default\", \"Extra\": [1.50, {\"x\": null}] }";

    #[test]
    fn items_not_changed_keep_their_exact_text() {
        let text = format!("\u{feff}[\n{FOREIGN},\n    {SURROGATE}  ,\n{{\"FullName\":\"d365fo.x\",\"Value\":\"1\",\"Type\":6}}]");
        let mut f = PsfFile::parse(text.as_bytes()).unwrap();
        assert_eq!(f.get("other.big"), Some(Stored::Text("123456789012345678901234567890".into())));
        assert_eq!(f.get("other.odd"), Some(Stored::Text("a\u{fffd}b\u{1F600}".into())));
        f.set("d365fo.x", &NewValue::Text("2".into()));
        f.set("d365fo.y", &NewValue::Bool(true));
        let out = String::from_utf8(f.to_bytes()).unwrap();
        assert!(out.contains(FOREIGN), "{out}");
        assert!(out.contains(SURROGATE), "{out}");
        assert!(!out.contains("e+29") && !out.contains("\"1\""), "{out}");
        let back = PsfFile::parse(out.as_bytes()).unwrap();
        assert_eq!(back.get("d365fo.x"), Some(Stored::Text("2".into())));
        assert_eq!(back.get("d365fo.y"), Some(Stored::Text("true".into())));
        assert_eq!(back.get("other.big"), Some(Stored::Text("123456789012345678901234567890".into())));
        // What this module writes is standard JSON (serde_json reads it).
        let v: Value = serde_json::from_str(&out.replace("\\ud800", "?")).unwrap();
        assert_eq!(v[3]["Type"], json!(2));
    }

    #[test]
    fn a_single_object_file_and_duplicate_keys_and_names_read_as_before() {
        let f = PsfFile::parse(FOREIGN.as_bytes()).unwrap();
        assert_eq!(f.entries().len(), 1);
        assert!(String::from_utf8(f.to_bytes()).unwrap().starts_with("[\n  {\"Style\""));
        let dup = br#"[{"FullName":"a.b","Value":"1","Type":6,"Value":"2"},{"FullName":"A.B","Value":"3","Type":6},{"FullName":"c","Value":"x","Type":6}]"#;
        let mut f = PsfFile::parse(dup).unwrap();
        assert_eq!(f.entries()[0].1, Stored::Text("2".into()), "the last of duplicate keys wins");
        assert_eq!(f.get("a.b"), Some(Stored::Text("3".into())), "the last of duplicate items wins");
        f.set("a.b", &NewValue::Text("4".into()));
        let names: Vec<String> = f.entries().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["a.b", "c"]);
    }

    #[test]
    fn strictness_matches_a_json_reader() {
        for bad in [
            &b"[{\"FullName\":\"a\",}]"[..],
            b"[{\"FullName\":\"a\"]",
            b"[01]",
            b"[1.]",
            b"[\"a\\x\"]",
            b"[\"a\nb\"]",
            b"[tru]",
            b"{\"a\":1} x",
            b"[{\"FullName\":\"a\"},",
            b"[{\"FullName\":\"a\\u12\"}]",
        ] {
            assert!(PsfFile::parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        assert!(PsfFile::parse(&[b'['; 10_000]).unwrap_err().contains("not valid JSON"));
        assert!(PsfFile::parse(b"[-0.5e+3, true, null, [], {}, \"\\u00e9\\/\"]").is_ok());
    }

    #[test]
    fn non_ascii_names_compare_as_psframework_compares_them() {
        let entries: Entries = vec![("d365fo.integrations.odata.σοφιας.url".into(), Stored::Text("https://s".into()))];
        assert_eq!(lookup(&entries, "d365fo.integrations.odata.ΣΟΦΙΑΣ.url"), Some(&Stored::Text("https://s".into())));
        assert_eq!(lookup(&entries, "d365fo.integrations.odata.σοφιασ.URL"), Some(&Stored::Text("https://s".into())));
        assert_eq!(lookup(&entries, "d365fo.integrations.odata.σοφια.url"), None);
    }

    #[test]
    fn a_torn_file_is_told_apart_from_an_invalid_one() {
        let whole = r#"[{"FullName":"a.b","Value":"1","Type":6}]"#;
        let torn = format!("{whole}\r\n  \"Type\": 6, \"Style\": \"default\" }}\n]\n");
        match PsfFile::parse_torn(torn.as_bytes()).unwrap() {
            Parsed::Torn { file, leftover_at } => {
                assert_eq!(leftover_at, whole.len());
                assert_eq!(file.get("a.b"), Some(Stored::Text("1".into())));
            }
            other => panic!("{other:?}"),
        }
        assert!(PsfFile::parse(torn.as_bytes()).unwrap_err().contains("torn"));
        // Not PSFramework's shape: invalid, not torn.
        assert!(PsfFile::parse_torn(b"[1] x").is_err());
        assert!(PsfFile::parse_torn(b"{\"FullName\":\"a\"} x").is_err());
        assert!(matches!(PsfFile::parse_torn(whole.as_bytes()).unwrap(), Parsed::Whole(_)));
    }
}
