//! Glue and Athena type strings, and their mapping to and from Arrow types.
//!
//! The registry stores column types exactly as Glue and Athena write them (`bigint`,
//! `decimal(12,2)`, `array<struct<a:int,b:string>>`, …) so that a definition file can be handed to
//! `aws glue create-table` unchanged. The engine works in Arrow types. This module owns the
//! translation both ways: [`GlueType::parse`] reads a type string, [`GlueType::to_arrow`] and
//! [`GlueType::from_arrow`] cross to Arrow, and `Display` writes the canonical Glue spelling.
//! `char(n)` and `varchar(n)` have no Arrow counterpart beyond `Utf8`, so their declared length
//! travels in the Arrow field's metadata under [`GLUE_TYPE_METADATA_KEY`] to survive a round trip.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields, TimeUnit};

/// Arrow field metadata key holding the Glue type where Arrow alone would lose it (`varchar(n)`).
pub const GLUE_TYPE_METADATA_KEY: &str = "glaux.glue_type";

/// The widest decimal precision Athena and Glue accept.
pub const MAX_DECIMAL_PRECISION: u8 = 38;

/// A column type in Glue's type language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GlueType {
    /// `boolean`
    Boolean,
    /// `tinyint`, 8-bit signed
    TinyInt,
    /// `smallint`, 16-bit signed
    SmallInt,
    /// `int` (also read as `integer`), 32-bit signed
    Int,
    /// `bigint`, 64-bit signed
    BigInt,
    /// `float`, 32-bit IEEE
    Float,
    /// `double`, 64-bit IEEE
    Double,
    /// `decimal(p,s)`; a bare `decimal` means Hive's default `decimal(10,0)`
    Decimal {
        /// total digits, 1..=38
        precision: u8,
        /// digits after the point, 0..=precision
        scale: u8,
    },
    /// `char(n)`
    Char(u32),
    /// `varchar(n)`
    Varchar(u32),
    /// `string`
    String,
    /// `binary`
    Binary,
    /// `date`
    Date,
    /// `timestamp`: stored as microseconds since the epoch, UTC-adjusted
    Timestamp,
    /// `array<T>`
    Array(Box<GlueType>),
    /// `map<K,V>`
    Map(Box<GlueType>, Box<GlueType>),
    /// `struct<name:T,...>`
    Struct(Vec<(String, GlueType)>),
}

/// Why a type string or an Arrow type could not be translated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TypeError {
    /// The type string does not follow Glue's grammar.
    #[error("invalid type `{}` at character {position}: {reason}", crate::error::excerpt(text))]
    Syntax {
        /// the whole type string
        text: String,
        /// zero-based character offset of the problem
        position: usize,
        /// what was expected
        reason: String,
    },
    /// The Arrow type has no Glue equivalent that readers such as Athena accept.
    #[error("Arrow type {data_type} has no Glue/Athena equivalent; cast it (for example to bigint, double or string)")]
    UnsupportedArrow {
        /// the Arrow type, printed
        data_type: String,
    },
}

impl GlueType {
    /// Parses a Glue/Athena type string. Case and whitespace are not significant.
    pub fn parse(text: &str) -> Result<GlueType, TypeError> {
        let mut parser = Parser { text, chars: text.char_indices().collect(), pos: 0 };
        let parsed = parser.parse_type()?;
        parser.skip_ws();
        if parser.pos < parser.chars.len() {
            return Err(parser.error("unexpected text after the type"));
        }
        Ok(parsed)
    }

    /// Whether the type may be used for a partition key (Athena allows primitive types only).
    pub fn is_primitive(&self) -> bool {
        !matches!(self, GlueType::Array(_) | GlueType::Map(..) | GlueType::Struct(_))
    }

    /// The Arrow type this Glue type is read and written as.
    pub fn to_arrow(&self) -> DataType {
        match self {
            GlueType::Boolean => DataType::Boolean,
            GlueType::TinyInt => DataType::Int8,
            GlueType::SmallInt => DataType::Int16,
            GlueType::Int => DataType::Int32,
            GlueType::BigInt => DataType::Int64,
            GlueType::Float => DataType::Float32,
            GlueType::Double => DataType::Float64,
            GlueType::Decimal { precision, scale } => DataType::Decimal128(*precision, *scale as i8),
            GlueType::Char(_) | GlueType::Varchar(_) | GlueType::String => DataType::Utf8,
            GlueType::Binary => DataType::Binary,
            GlueType::Date => DataType::Date32,
            GlueType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            GlueType::Array(element) => DataType::List(Arc::new(element.to_arrow_field("item", true))),
            GlueType::Map(key, value) => {
                let entries = Fields::from(vec![key.to_arrow_field("key", false), value.to_arrow_field("value", true)]);
                DataType::Map(Arc::new(Field::new("entries", DataType::Struct(entries), false)), false)
            }
            GlueType::Struct(members) => {
                DataType::Struct(members.iter().map(|(name, ty)| ty.to_arrow_field(name, true)).collect::<Fields>())
            }
        }
    }

    /// An Arrow field of this type, carrying the Glue type in metadata where Arrow would lose it.
    pub fn to_arrow_field(&self, name: &str, nullable: bool) -> Field {
        let field = Field::new(name, self.to_arrow(), nullable);
        match self {
            GlueType::Char(_) | GlueType::Varchar(_) => {
                field.with_metadata(HashMap::from([(GLUE_TYPE_METADATA_KEY.to_string(), self.to_string())]))
            }
            _ => field,
        }
    }

    /// The Glue type for an Arrow field, honouring a declared `char`/`varchar` in its metadata.
    pub fn from_arrow_field(field: &Field) -> Result<GlueType, TypeError> {
        if let Some(declared) = field.metadata().get(GLUE_TYPE_METADATA_KEY)
            && let Ok(glue) = GlueType::parse(declared)
            && glue.to_arrow() == *field.data_type()
        {
            return Ok(glue);
        }
        GlueType::from_arrow(field.data_type())
    }

    /// The Glue type for an Arrow type. Arrow types with several physical layouts for one logical
    /// type (string views, large lists, other timestamp units) map to the one Glue type.
    pub fn from_arrow(data_type: &DataType) -> Result<GlueType, TypeError> {
        Ok(match data_type {
            DataType::Boolean => GlueType::Boolean,
            DataType::Int8 => GlueType::TinyInt,
            DataType::Int16 | DataType::UInt8 => GlueType::SmallInt,
            DataType::Int32 | DataType::UInt16 => GlueType::Int,
            DataType::Int64 | DataType::UInt32 => GlueType::BigInt,
            DataType::Float16 | DataType::Float32 => GlueType::Float,
            DataType::Float64 => GlueType::Double,
            DataType::Decimal32(p, s) | DataType::Decimal64(p, s) | DataType::Decimal128(p, s)
                if *s >= 0 && *p <= MAX_DECIMAL_PRECISION =>
            {
                GlueType::Decimal { precision: *p, scale: *s as u8 }
            }
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => GlueType::String,
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_) => {
                GlueType::Binary
            }
            DataType::Date32 | DataType::Date64 => GlueType::Date,
            DataType::Timestamp(_, _) => GlueType::Timestamp,
            DataType::List(f) | DataType::LargeList(f) | DataType::ListView(f) | DataType::FixedSizeList(f, _) => {
                GlueType::Array(Box::new(GlueType::from_arrow_field(f)?))
            }
            DataType::Map(entries, _) => match entries.data_type() {
                DataType::Struct(kv) if kv.len() == 2 => GlueType::Map(
                    Box::new(GlueType::from_arrow_field(&kv[0])?),
                    Box::new(GlueType::from_arrow_field(&kv[1])?),
                ),
                other => return Err(TypeError::UnsupportedArrow { data_type: other.to_string() }),
            },
            DataType::Struct(fields) => GlueType::Struct(
                fields
                    .iter()
                    .map(|f| Ok((f.name().clone(), GlueType::from_arrow_field(f)?)))
                    .collect::<Result<_, TypeError>>()?,
            ),
            DataType::Dictionary(_, value) => GlueType::from_arrow(value)?,
            other => return Err(TypeError::UnsupportedArrow { data_type: other.to_string() }),
        })
    }
}

impl fmt::Display for GlueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GlueType::Boolean => f.write_str("boolean"),
            GlueType::TinyInt => f.write_str("tinyint"),
            GlueType::SmallInt => f.write_str("smallint"),
            GlueType::Int => f.write_str("int"),
            GlueType::BigInt => f.write_str("bigint"),
            GlueType::Float => f.write_str("float"),
            GlueType::Double => f.write_str("double"),
            GlueType::Decimal { precision, scale } => write!(f, "decimal({precision},{scale})"),
            GlueType::Char(n) => write!(f, "char({n})"),
            GlueType::Varchar(n) => write!(f, "varchar({n})"),
            GlueType::String => f.write_str("string"),
            GlueType::Binary => f.write_str("binary"),
            GlueType::Date => f.write_str("date"),
            GlueType::Timestamp => f.write_str("timestamp"),
            GlueType::Array(element) => write!(f, "array<{element}>"),
            GlueType::Map(key, value) => write!(f, "map<{key},{value}>"),
            GlueType::Struct(members) => {
                f.write_str("struct<")?;
                for (i, (name, ty)) in members.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    // A name that is not a plain word is written in backquotes, as it is read.
                    match !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_') {
                        true => write!(f, "{name}:{ty}")?,
                        false => write!(f, "`{name}`:{ty}")?,
                    }
                }
                f.write_str(">")
            }
        }
    }
}

/// A recursive-descent reader over the characters of one type string.
struct Parser<'a> {
    text: &'a str,
    chars: Vec<(usize, char)>,
    pos: usize,
}

impl Parser<'_> {
    fn error(&self, reason: &str) -> TypeError {
        TypeError::Syntax { text: self.text.to_string(), position: self.pos, reason: reason.to_string() }
    }

    fn skip_ws(&mut self) {
        while self.chars.get(self.pos).is_some_and(|(_, c)| c.is_whitespace()) {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_ws();
        self.chars.get(self.pos).map(|(_, c)| *c)
    }

    fn expect(&mut self, wanted: char) -> Result<(), TypeError> {
        if self.peek() == Some(wanted) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(&format!("expected `{wanted}`")))
        }
    }

    /// A word of letters, digits and underscores, or a backquoted name for struct members.
    fn word(&mut self) -> Result<String, TypeError> {
        self.skip_ws();
        if self.peek() == Some('`') {
            self.pos += 1;
            let start = self.pos;
            while self.chars.get(self.pos).is_some_and(|(_, c)| *c != '`') {
                self.pos += 1;
            }
            if self.pos >= self.chars.len() {
                return Err(self.error("unterminated backquoted name"));
            }
            let name: String = self.chars[start..self.pos].iter().map(|(_, c)| c).collect();
            self.pos += 1;
            return Ok(name);
        }
        let start = self.pos;
        while self.chars.get(self.pos).is_some_and(|(_, c)| c.is_alphanumeric() || *c == '_') {
            self.pos += 1;
        }
        if start == self.pos {
            return Err(self.error("expected a type name"));
        }
        Ok(self.chars[start..self.pos].iter().map(|(_, c)| c).collect())
    }

    fn number(&mut self) -> Result<u32, TypeError> {
        self.skip_ws();
        let start = self.pos;
        while self.chars.get(self.pos).is_some_and(|(_, c)| c.is_ascii_digit()) {
            self.pos += 1;
        }
        let digits: String = self.chars[start..self.pos].iter().map(|(_, c)| c).collect();
        digits.parse().map_err(|_| {
            self.pos = start;
            self.error("expected a number")
        })
    }

    fn parse_type(&mut self) -> Result<GlueType, TypeError> {
        let start = self.pos;
        let name = self.word()?.to_ascii_lowercase();
        let ty = match name.as_str() {
            "boolean" => GlueType::Boolean,
            "tinyint" => GlueType::TinyInt,
            "smallint" => GlueType::SmallInt,
            "int" | "integer" => GlueType::Int,
            "bigint" => GlueType::BigInt,
            "float" | "real" => GlueType::Float,
            "double" => GlueType::Double,
            "string" => GlueType::String,
            "binary" => GlueType::Binary,
            "date" => GlueType::Date,
            "timestamp" => GlueType::Timestamp,
            "decimal" => self.parse_decimal()?,
            "char" => GlueType::Char(self.parse_length()?),
            "varchar" => GlueType::Varchar(self.parse_length()?),
            "array" => {
                self.expect('<')?;
                let element = self.parse_type()?;
                self.expect('>')?;
                GlueType::Array(Box::new(element))
            }
            "map" => {
                self.expect('<')?;
                let key = self.parse_type()?;
                if !key.is_primitive() {
                    return Err(self.error("a map key must be a primitive type"));
                }
                self.expect(',')?;
                let value = self.parse_type()?;
                self.expect('>')?;
                GlueType::Map(Box::new(key), Box::new(value))
            }
            "struct" => self.parse_struct()?,
            _ => {
                self.pos = start;
                self.skip_ws();
                return Err(self.error(&format!("unknown type `{name}`")));
            }
        };
        Ok(ty)
    }

    fn parse_decimal(&mut self) -> Result<GlueType, TypeError> {
        if self.peek() != Some('(') {
            return Ok(GlueType::Decimal { precision: 10, scale: 0 });
        }
        self.expect('(')?;
        let precision = self.number()?;
        let scale = if self.peek() == Some(',') {
            self.pos += 1;
            self.number()?
        } else {
            0
        };
        if precision == 0 || precision > u32::from(MAX_DECIMAL_PRECISION) {
            return Err(self.error("decimal precision must be between 1 and 38"));
        }
        if scale > precision {
            return Err(self.error("decimal scale cannot exceed its precision"));
        }
        self.expect(')')?;
        Ok(GlueType::Decimal { precision: precision as u8, scale: scale as u8 })
    }

    fn parse_length(&mut self) -> Result<u32, TypeError> {
        self.expect('(')?;
        let length = self.number()?;
        if length == 0 {
            return Err(self.error("length must be at least 1"));
        }
        self.expect(')')?;
        Ok(length)
    }

    fn parse_struct(&mut self) -> Result<GlueType, TypeError> {
        self.expect('<')?;
        let mut members: Vec<(String, GlueType)> = Vec::new();
        loop {
            let name = self.word()?;
            if members.iter().any(|(existing, _)| existing.eq_ignore_ascii_case(&name)) {
                return Err(self.error(&format!("duplicate struct member `{name}`")));
            }
            self.expect(':')?;
            members.push((name, self.parse_type()?));
            match self.peek() {
                Some(',') => self.pos += 1,
                Some('>') => {
                    self.pos += 1;
                    return Ok(GlueType::Struct(members));
                }
                _ => return Err(self.error("expected `,` or `>` in struct")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANONICAL: &[&str] = &[
        "boolean",
        "tinyint",
        "smallint",
        "int",
        "bigint",
        "float",
        "double",
        "decimal(38,10)",
        "decimal(5,0)",
        "char(3)",
        "varchar(255)",
        "string",
        "binary",
        "date",
        "timestamp",
        "array<string>",
        "array<array<bigint>>",
        "map<string,double>",
        "map<int,array<struct<a:int,b:varchar(4)>>>",
        "struct<id:bigint,tags:array<string>,attrs:map<string,string>,inner:struct<x:date,y:decimal(12,2)>>",
    ];

    #[test]
    fn canonical_strings_survive_glue_arrow_glue() {
        for text in CANONICAL {
            let glue = GlueType::parse(text).unwrap();
            assert_eq!(glue.to_string(), *text);
            let field = glue.to_arrow_field("c", true);
            assert_eq!(GlueType::from_arrow_field(&field).unwrap(), glue, "{text}");
        }
    }

    #[test]
    fn arrow_types_survive_arrow_glue_arrow() {
        for text in CANONICAL {
            let arrow = GlueType::parse(text).unwrap().to_arrow();
            let back = GlueType::from_arrow(&arrow).unwrap().to_arrow();
            assert_eq!(back, arrow, "{text}");
        }
    }

    #[test]
    fn parsing_is_lenient_about_case_spaces_and_aliases() {
        let glue = GlueType::parse(" STRUCT< a : INTEGER , `b c` : Array<Decimal> > ").unwrap();
        // A member name that is not a plain word prints backquoted, so the text parses back.
        assert_eq!(glue.to_string(), "struct<a:int,`b c`:array<decimal(10,0)>>");
        assert_eq!(GlueType::parse(&glue.to_string()).unwrap(), glue);
        assert_eq!(GlueType::parse("decimal(7)").unwrap().to_string(), "decimal(7,0)");
    }

    #[test]
    fn bad_types_name_the_position_and_problem() {
        let cases = [
            ("strin", "unknown type `strin`"),
            ("decimal(39,2)", "precision must be between 1 and 38"),
            ("decimal(4,5)", "scale cannot exceed"),
            ("array<int", "expected `>`"),
            ("map<array<int>,int>", "map key must be a primitive"),
            ("struct<a:int,a:int>", "duplicate struct member"),
            ("int int", "unexpected text"),
            ("varchar(0)", "at least 1"),
            ("", "expected a type name"),
        ];
        for (text, expected) in cases {
            let err = GlueType::parse(text).unwrap_err().to_string();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }

    #[test]
    fn arrow_layout_variants_map_to_one_glue_type() {
        assert_eq!(GlueType::from_arrow(&DataType::Utf8View).unwrap(), GlueType::String);
        assert_eq!(
            GlueType::from_arrow(&DataType::Timestamp(TimeUnit::Nanosecond, None)).unwrap(),
            GlueType::Timestamp
        );
        assert!(GlueType::from_arrow(&DataType::UInt64).is_err());
    }
}
