//! Binary functions with Trino's semantics: hashes of `varbinary` returning `varbinary`
//! (`md5`, `sha256`, `sha512`), `to_hex` in upper case as Trino prints it, `from_hex`,
//! `to_utf8` and `from_utf8` (invalid sequences replaced).
//!
//! Trino hashes only `varbinary`; glaux also takes `varchar` and hashes its UTF-8 bytes, so
//! both `md5(to_utf8(s))` and `md5(s)` work.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BinaryBuilder, StringArray, StringBuilder};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err, plan_err};
use md5::Md5;
use sha2::{Digest, Sha256, Sha512};

use super::{Args, Scalar, arity, cast_to, is_text, returns};

pub(super) fn all() -> Vec<Scalar> {
    vec![
        Scalar::new("md5", one_binary, returns!(DataType::Binary), |a, _| hash::<Md5>(a)),
        Scalar::new("sha256", one_binary, returns!(DataType::Binary), |a, _| hash::<Sha256>(a)),
        Scalar::new("sha512", one_binary, returns!(DataType::Binary), |a, _| hash::<Sha512>(a)),
        Scalar::new("to_hex", one_binary, returns!(DataType::Utf8), to_hex),
        Scalar::new("from_hex", one_text, returns!(DataType::Binary), from_hex),
        Scalar::new("to_utf8", one_text, returns!(DataType::Binary), to_utf8),
        Scalar::new("from_utf8", one_binary, returns!(DataType::Utf8), from_utf8),
    ]
}

fn is_binary(t: &DataType) -> bool {
    matches!(t, DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_))
}

fn one_binary(name: &str, t: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, t, 1, 1)?;
    match &t[0] {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Ok(vec![t[0].clone()]),
        other if is_binary(other) || is_text(other) => Ok(vec![DataType::Binary]),
        other => plan_err!("{name} takes varbinary, got {other}"),
    }
}

fn one_text(name: &str, t: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, t, 1, 1)?;
    if !is_text(&t[0]) {
        return plan_err!("{name} takes varchar, got {}", t[0]);
    }
    Ok(vec![DataType::Utf8])
}

/// The argument as binary (text arguments as their UTF-8 bytes).
fn bytes(args: &Args) -> Result<ArrayRef> {
    cast_to(args.array(0), &DataType::Binary)
}

fn hash<D: Digest>(args: &Args) -> Result<ArrayRef> {
    let mut out =
        BinaryBuilder::with_capacity(args.rows, args.rows * <D as sha2::digest::OutputSizeUser>::output_size());
    // Text is hashed as its UTF-8 bytes where it lies, without converting the column.
    if let Ok(text) = args.text(0) {
        text.for_each(|s| out.append_option(s.map(|s| D::digest(s.as_bytes()))));
        return Ok(Arc::new(out.finish()));
    }
    let input = bytes(args)?;
    let input = input.as_binary::<i32>();
    for row in 0..args.rows {
        let i = args.at(0, row);
        if input.is_valid(i) {
            out.append_value(D::digest(input.value(i)));
        } else {
            out.append_null();
        }
    }
    Ok(Arc::new(out.finish()))
}

fn to_hex(args: &Args, _: &DataType) -> Result<ArrayRef> {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let input = bytes(args)?;
    let input = input.as_binary::<i32>();
    // The hex of all rows at once: two digits per byte of the values buffer, offsets twice the
    // input's (a NULL row's slot, usually empty, is encoded and never shown).
    let offsets = input.value_offsets();
    let (first, last) = (offsets[0] as usize, offsets[offsets.len() - 1] as usize);
    if (last - first) * 2 > i32::MAX as usize {
        return exec_err!("to_hex: the result is over 2 GB");
    }
    let mut text = vec![0u8; (last - first) * 2];
    for (pair, byte) in text.chunks_exact_mut(2).zip(&input.value_data()[first..last]) {
        pair[0] = DIGITS[(byte >> 4) as usize];
        pair[1] = DIGITS[(byte & 15) as usize];
    }
    let offsets: Vec<i32> = offsets.iter().map(|o| (o - first as i32) * 2).collect();
    let hex = StringArray::try_new(OffsetBuffer::new(offsets.into()), text.into(), input.nulls().cloned())?;
    Ok(Arc::new(hex))
}

fn from_hex(args: &Args, _: &DataType) -> Result<ArrayRef> {
    let text = args.text(0)?;
    let mut out = BinaryBuilder::new();
    for row in 0..args.rows {
        let Some(hex) = text.get(row) else {
            out.append_null();
            continue;
        };
        let digits: Option<Vec<u8>> = hex.bytes().map(|b| (b as char).to_digit(16).map(|d| d as u8)).collect();
        match digits {
            Some(digits) if digits.len() % 2 == 0 => {
                out.append_value(digits.chunks(2).map(|pair| pair[0] << 4 | pair[1]).collect::<Vec<u8>>())
            }
            _ => return exec_err!("from_hex: `{hex}` is not an even number of hexadecimal digits"),
        }
    }
    Ok(Arc::new(out.finish()))
}

fn to_utf8(args: &Args, _: &DataType) -> Result<ArrayRef> {
    bytes(args)
}

fn from_utf8(args: &Args, _: &DataType) -> Result<ArrayRef> {
    let input = bytes(args)?;
    let input = input.as_binary::<i32>();
    let mut out = StringBuilder::new();
    for row in 0..args.rows {
        let i = args.at(0, row);
        if input.is_valid(i) {
            out.append_value(String::from_utf8_lossy(input.value(i)));
        } else {
            out.append_null();
        }
    }
    Ok(Arc::new(out.finish()))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{try_value, value};

    #[tokio::test]
    async fn hashes_are_varbinary_and_hex_is_upper_case() {
        assert_eq!(value("SELECT to_hex(md5(to_utf8('hello')))").await, "5D41402ABC4B2A76B9719D911017C592");
        assert_eq!(value("SELECT to_hex(md5('hello'))").await, "5D41402ABC4B2A76B9719D911017C592");
        assert_eq!(
            value("SELECT to_hex(sha256(to_utf8('abc')))").await,
            "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"
        );
        assert_eq!(value("SELECT lower(to_hex(from_hex('0aFF')))").await, "0aff");
        assert_eq!(value("SELECT from_utf8(from_hex('48C3'))").await, "H\u{FFFD}");
        assert_eq!(value("SELECT to_hex(CAST(NULL AS VARCHAR))").await, "NULL");
        assert!(try_value("SELECT from_hex('abc')").await.is_err());
    }
}
