//! Demo data: CRM exports that look and misbehave like real ones, deterministic for a seed.
//!
//! `glaux demo generate` writes two `customer_base` CSV exports: a full export, and a later one
//! that updates some earlier customers and adds new ones. The rows carry the dirt real exports
//! carry, in known proportions, so cleansing jobs have something true to fix: exact and near
//! duplicates (case, whitespace, a changed phone), stray whitespace, mixed-case and invalid
//! emails, invalid phones, six date formats and impossible dates, `N/A`/`null`/`-`/empty as
//! missing values, negative and absurd amounts, unknown region codes, Chinese and accented
//! names, and notes holding commas, quotes and line breaks. The same seed gives the same bytes.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{Days, NaiveDate};

/// The columns of an export, in file order (the registry's `customer_base_raw` columns).
pub const COLUMNS: [&str; 12] = [
    "customer_id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "birth_date",
    "signup_date",
    "region",
    "total_spent",
    "order_count",
    "last_order_date",
    "notes",
];

/// Region codes the reference table knows, with the phone style of each.
const REGIONS: [(&str, Phone); 6] = [
    ("EU-DE", Phone::De),
    ("EU-FR", Phone::Fr),
    ("EU-ES", Phone::Es),
    ("NA-US", Phone::Us),
    ("APAC-CN", Phone::Cn),
    ("APAC-JP", Phone::Jp),
];
const UNKNOWN_REGIONS: [&str; 4] = ["EU-XX", "??", " eu-de", "LATAM-BR"];
const MISSING: [&str; 6] = ["", "N/A", "null", "-", "NULL", "n/a"];

/// (given name, family name, ASCII form for the email) per region.
const NAMES: [(&[&str], &[&str]); 6] = [
    (
        &["Anna", "Lukas", "Jürgen", "Sophie", "Maximilian", "Zoë"],
        &["Schmidt", "Müller", "Weber", "Fischer", "Schäfer"],
    ),
    (&["Jean", "Émile", "Camille", "Léa", "François", "Chloé"], &["Dupont", "Lefèvre", "Martin", "Bernard", "Moreau"]),
    (
        &["María José", "Javier", "Lucía", "Álvaro", "Carmen", "Iñigo"],
        &["García", "Fernández", "López", "Martínez", "Núñez"],
    ),
    (&["Sam", "Olivia", "Liam", "Emma", "Noah", "Ava"], &["Lee", "Smith", "O'Brien", "Johnson", "Brown"]),
    (&["伟", "芳", "娜", "敏", "静", "强"], &["李", "王", "张", "刘", "陈"]),
    (&["Yuki", "Haruto", "Sakura", "Ren", "Aoi", "Sota"], &["Tanaka", "Suzuki", "Sato", "Takahashi", "Watanabe"]),
];
/// Pinyin for the Chinese names above, in the same order.
const PINYIN_GIVEN: [&str; 6] = ["wei", "fang", "na", "min", "jing", "qiang"];
const PINYIN_FAMILY: [&str; 5] = ["li", "wang", "zhang", "liu", "chen"];
const DOMAINS: [&str; 6] = ["example.de", "example.fr", "example.es", "example.com", "example.cn", "example.jp"];
const NOTES: [&str; 6] = [
    "VIP, prefers email",
    "Asked about \"express\" delivery\nCall back Monday",
    "Complained, refund issued",
    "Moved; new address pending, see ticket #4411",
    "Prefers phone contact\r\nDo not call before 10:00",
    "Referred by \"Anna\", gets 10% off",
];

#[derive(Clone, Copy)]
enum Phone {
    De,
    Fr,
    Es,
    Us,
    Cn,
    Jp,
}

/// Customers in the sample committed in `data/` (and written by `glaux run` when it is missing).
pub const SAMPLE_CUSTOMERS: usize = 300;
/// Seed of that sample.
pub const SAMPLE_SEED: u64 = 10;

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// Customers in the first export.
    pub customers: usize,
    /// Seed; the same seed gives the same files.
    pub seed: u64,
    /// Directory the files are written to.
    pub out: PathBuf,
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateReport {
    /// The files, in order.
    pub files: Vec<PathBuf>,
    /// Data rows in each file.
    pub rows: Vec<usize>,
}

/// The day of the first export; fixed so output depends on the seed alone.
pub fn first_export_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 1).expect("valid date")
}

/// Writes the two exports into `options.out`.
pub fn generate(options: &GenerateOptions) -> io::Result<GenerateReport> {
    std::fs::create_dir_all(&options.out)?;
    let first = first_export_day();
    let later = first + Days::new(14);
    let mut generator = Generator::new(options.seed, options.customers);
    let mut report = GenerateReport { files: Vec::new(), rows: Vec::new() };
    for (day, full) in [(first, true), (later, false)] {
        let path = options.out.join(format!("crm_export_{day}.csv"));
        let mut out = BufWriter::new(std::fs::File::create(&path)?);
        let rows = match full {
            true => generator.write_full(&mut out, first)?,
            false => generator.write_update(&mut out, later)?,
        };
        out.flush()?;
        report.files.push(path);
        report.rows.push(rows);
    }
    Ok(report)
}

/// SplitMix64: tiny, fast, and stable across versions, unlike library RNGs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True with probability `percent` / 100.
    fn chance(&mut self, percent: f64) -> bool {
        (self.next() % 1_000_000) as f64 / 10_000.0 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// One customer as the CRM holds it, before the export dirties it.
#[derive(Clone)]
struct Customer {
    id: usize,
    region: usize,
    given: usize,
    family: usize,
    domain: usize,
    birth: NaiveDate,
    signup: NaiveDate,
    spent_cents: i64,
    orders: u32,
    last_order: Option<NaiveDate>,
    phone: String,
}

struct Generator {
    rng: Rng,
    customers: Vec<Customer>,
    target: usize,
}

impl Generator {
    fn new(seed: u64, target: usize) -> Generator {
        Generator { rng: Rng(seed ^ 0x676C_6175_7864_656D), customers: Vec::with_capacity(target), target }
    }

    fn new_customer(&mut self, id: usize, export_day: NaiveDate) -> Customer {
        let rng = &mut self.rng;
        let region = rng.below(REGIONS.len());
        let (given, family) = (rng.below(NAMES[region].0.len()), rng.below(NAMES[region].1.len()));
        let birth = NaiveDate::from_ymd_opt(1940, 1, 1).unwrap() + Days::new(rng.below(66 * 365) as u64);
        let signup = NaiveDate::from_ymd_opt(2015, 1, 1).unwrap() + Days::new(rng.below(11 * 365) as u64);
        let orders = if rng.chance(15.0) { 0 } else { 1 + rng.below(60) as u32 };
        let spent_cents = i64::from(orders) * (500 + rng.below(20_000) as i64);
        let span = (export_day - signup).num_days().max(1) as usize;
        let last_order = (orders > 0).then(|| signup + Days::new(rng.below(span) as u64));
        let phone = phone(rng, REGIONS[region].1);
        Customer { id, region, given, family, domain: region, birth, signup, spent_cents, orders, last_order, phone }
    }

    /// The first export: every customer, plus exact and near duplicates.
    fn write_full(&mut self, out: &mut impl Write, day: NaiveDate) -> io::Result<usize> {
        writeln!(out, "{}", COLUMNS.join(","))?;
        let mut rows = 0;
        for id in 1..=self.target {
            let customer = self.new_customer(id, day);
            let fields = self.dirty_fields(&customer);
            match self.rng.below(1000) {
                0 | 1 => write_unquoted_row(out, &fields, "Called, no answer")?,
                2..=5 if fields[1..3].iter().any(|f| !f.is_ascii() && f.chars().all(|c| (c as u32) < 256)) => {
                    write_latin1_row(out, &fields)?
                }
                _ => write_row(out, &fields)?,
            }
            rows += 1;
            if self.rng.chance(1.0) {
                write_row(out, &fields)?;
                rows += 1;
            } else if self.rng.chance(2.0) {
                let near = self.near_duplicate(&customer, fields);
                write_row(out, &near)?;
                rows += 1;
            }
            self.customers.push(customer);
        }
        Ok(rows)
    }

    /// The later export: about a tenth of the customers again, changed, and some new ones.
    fn write_update(&mut self, out: &mut impl Write, day: NaiveDate) -> io::Result<usize> {
        writeln!(out, "{}", COLUMNS.join(","))?;
        let mut rows = 0;
        for index in 0..self.customers.len() {
            if !self.rng.chance(10.0) {
                continue;
            }
            let mut customer = self.customers[index].clone();
            customer.orders += 1 + self.rng.below(3) as u32;
            customer.spent_cents += 500 + self.rng.below(30_000) as i64;
            customer.last_order = Some(day - Days::new(self.rng.below(14) as u64));
            if self.rng.chance(20.0) {
                customer.phone = phone(&mut self.rng, REGIONS[customer.region].1);
            }
            let fields = self.dirty_fields(&customer);
            write_row(out, &fields)?;
            rows += 1;
        }
        let first_new = self.target + 1;
        for id in first_new..first_new + self.target / 20 {
            let customer = self.new_customer(id, day);
            let fields = self.dirty_fields(&customer);
            write_row(out, &fields)?;
            rows += 1;
        }
        Ok(rows)
    }

    /// The customer as an export writes it, with the dirt of real exports.
    fn dirty_fields(&mut self, c: &Customer) -> [String; 12] {
        let rng = &mut self.rng;
        let (givens, families) = NAMES[c.region];
        let mut given = givens[c.given].to_string();
        let mut family = families[c.family].to_string();
        let (given_ascii, family_ascii) = match c.region {
            4 => (PINYIN_GIVEN[c.given].to_string(), PINYIN_FAMILY[c.family].to_string()),
            _ => (ascii(&given), ascii(&family)),
        };
        if rng.chance(5.0) {
            given = format!(" {given} ");
        }
        if rng.chance(3.0) {
            family = family.to_uppercase();
        }
        let email = email(rng, &given_ascii, &family_ascii, DOMAINS[c.domain]);
        let phone = match rng.below(100) {
            0..=2 => rng.pick(&["12345", "phone", "+49 0000", "call me"]).to_string(),
            3..=5 => rng.pick(&MISSING).to_string(),
            _ => c.phone.clone(),
        };
        let region = match rng.below(100) {
            0..=1 => rng.pick(&UNKNOWN_REGIONS).to_string(),
            2 => rng.pick(&MISSING).to_string(),
            _ => REGIONS[c.region].0.to_string(),
        };
        let spent = match rng.below(1000) {
            0..=9 => format!("-{}.{:02}", c.spent_cents / 100 % 500, c.spent_cents % 100),
            10..=14 => "99999999.99".to_string(),
            15..=44 => rng.pick(&MISSING).to_string(),
            _ => format!("{}.{:02}", c.spent_cents / 100, c.spent_cents % 100),
        };
        let orders = match rng.below(100) {
            0 => "-1".to_string(),
            1..=2 => rng.pick(&MISSING).to_string(),
            _ => c.orders.to_string(),
        };
        let last_order = match c.last_order {
            Some(day) => date(rng, day),
            None => rng.pick(&MISSING).to_string(),
        };
        let notes = if rng.chance(5.0) { rng.pick(&NOTES).to_string() } else { String::new() };
        [
            format!("C{:07}", c.id),
            given,
            family,
            email,
            phone,
            date(rng, c.birth),
            date(rng, c.signup),
            region,
            spent,
            orders,
            last_order,
            notes,
        ]
    }

    /// The same customer entered again: case and whitespace changed, sometimes a new phone.
    fn near_duplicate(&mut self, customer: &Customer, mut fields: [String; 12]) -> [String; 12] {
        fields[1] = fields[1].to_uppercase();
        fields[2] = format!("{}  ", fields[2]);
        fields[3] = fields[3].to_uppercase();
        if self.rng.chance(50.0) {
            fields[4] = phone(&mut self.rng, REGIONS[customer.region].1);
        }
        fields
    }
}

fn phone(rng: &mut Rng, style: Phone) -> String {
    let mut digits = |n: usize| (0..n).map(|_| char::from(b'0' + rng.below(10) as u8)).collect::<String>();
    match style {
        Phone::De => format!("+49 30 {}", digits(7)),
        Phone::Fr => format!(
            "0{} {} {} {} {}",
            1 + digits(1).parse::<u8>().unwrap() % 9,
            digits(2),
            digits(2),
            digits(2),
            digits(2)
        ),
        Phone::Es => format!("6{} {} {}", digits(2), digits(3), digits(3)),
        Phone::Us => format!("({}) {}-{}", digits(3), digits(3), digits(4)),
        Phone::Cn => format!("+86 10 {} {}", digits(4), digits(4)),
        Phone::Jp => format!("+81 3-{}-{}", digits(4), digits(4)),
    }
}

fn email(rng: &mut Rng, given: &str, family: &str, domain: &str) -> String {
    let clean =
        format!("{}.{}@{domain}", given.to_lowercase().replace(' ', ""), family.to_lowercase().replace('\'', ""));
    match rng.below(100) {
        0..=9 => clean.to_uppercase(),
        10..=14 => format!("{}.{}@{}", capitalise(given), capitalise(family), domain.to_uppercase()),
        15..=17 => format!(" {clean} "),
        18 => clean.replace('@', "@@"),
        19 => clean.replace('@', "."),
        20 => clean.replace(&format!(".{}", domain.rsplit('.').next().unwrap_or("com")), ""),
        21..=22 => rng.pick(&MISSING).to_string(),
        _ => clean,
    }
}

/// A date in one of the formats CRMs export, or, rarely, an impossible one.
fn date(rng: &mut Rng, day: NaiveDate) -> String {
    match rng.below(100) {
        0 => format!("{}-13-40", day.format("%Y")),
        1 => format!("{}-02-30", day.format("%Y")),
        2..=4 => rng.pick(&MISSING).to_string(),
        5..=59 => day.format("%Y-%m-%d").to_string(),
        60..=71 => day.format("%d/%m/%Y").to_string(),
        72..=81 => day.format("%Y/%m/%d").to_string(),
        82..=89 => day.format("%d %b %Y").to_string(),
        90..=94 => day.format("%Y%m%d").to_string(),
        _ => day.format("%Y-%m-%dT00:00:00").to_string(),
    }
}

/// Accented Latin letters folded to ASCII for email addresses.
fn ascii(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            'á' | 'à' | 'â' | 'ä' | 'Á' => 'a',
            'é' | 'è' | 'ê' | 'ë' | 'É' => 'e',
            'í' | 'ï' => 'i',
            'ó' | 'ô' | 'ö' => 'o',
            'ú' | 'ü' => 'u',
            'ñ' => 'n',
            'ç' => 'c',
            'Ñ' => 'N',
            other => other,
        })
        .filter(|c| c.is_ascii())
        .collect()
}

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// One CSV row, quoting fields that hold a comma, quote, line break or edge space.
fn write_row(out: &mut impl Write, fields: &[String]) -> io::Result<()> {
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        let quote = field.contains([',', '"', '\n', '\r']) || field.starts_with(' ') || field.ends_with(' ');
        match quote {
            true => write!(out, "\"{}\"", field.replace('"', "\"\""))?,
            false => out.write_all(field.as_bytes())?,
        }
    }
    out.write_all(b"\n")
}

/// A row from a broken exporter: the notes hold a comma but are not quoted, so the row has
/// one field too many.
fn write_unquoted_row(out: &mut impl Write, fields: &[String; 12], notes: &str) -> io::Result<()> {
    let mut buffer = Vec::new();
    write_row(&mut buffer, &fields[..11])?;
    buffer.pop();
    out.write_all(&buffer)?;
    writeln!(out, ",{notes}")
}

/// A row written by a tool that exported text as ISO-8859-1 instead of UTF-8.
fn write_latin1_row(out: &mut impl Write, fields: &[String; 12]) -> io::Result<()> {
    let mut buffer = Vec::new();
    write_row(&mut buffer, fields)?;
    let text = String::from_utf8(buffer).expect("rows are built from UTF-8 strings");
    let latin1: Vec<u8> = text.chars().map(|c| if (c as u32) < 256 { c as u32 as u8 } else { b'?' }).collect();
    out.write_all(&latin1)
}

/// The default output directory in a project: where `glaux run` loads the raw table from.
pub fn default_out(project: &Path) -> PathBuf {
    project.join("data/customer_data/customer_base_raw")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generated(customers: usize, seed: u64) -> (tempfile::TempDir, Vec<Vec<u8>>) {
        let dir = tempfile::tempdir().unwrap();
        let report = generate(&GenerateOptions { customers, seed, out: dir.path().to_path_buf() }).unwrap();
        let texts = report.files.iter().map(|f| std::fs::read(f).unwrap()).collect();
        (dir, texts)
    }

    /// Records of one file, header excluded, as the `csv` crate reads them (bytes that are not
    /// UTF-8 replaced).
    fn records(bytes: &[u8]) -> Vec<Vec<String>> {
        let mut reader = ::csv::ReaderBuilder::new().flexible(true).from_reader(bytes);
        reader
            .byte_records()
            .map(|r| r.unwrap().iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect())
            .collect()
    }

    #[test]
    fn the_same_seed_gives_the_same_bytes() {
        let (_a, first) = generated(500, 7);
        let (_b, again) = generated(500, 7);
        let (_c, other) = generated(500, 8);
        assert_eq!(first, again);
        assert_ne!(first, other);
    }

    #[test]
    fn exports_carry_every_kind_of_dirt() {
        let (_dir, texts) = generated(4000, 42);
        let full = records(&texts[0]);
        let update = records(&texts[1]);
        assert!(full.len() > 4000 && full.len() < 4300, "{} rows", full.len());
        let ids: std::collections::HashSet<&String> = full.iter().map(|r| &r[0]).collect();
        assert_eq!(ids.len(), 4000, "duplicates share their customer id");
        let count = |pred: &dyn Fn(&Vec<String>) -> bool| full.iter().filter(|r| pred(r)).count();
        let checks: [(&str, usize); 16] = [
            ("rows with an unquoted comma", count(&|r| r.len() == 13)),
            ("rows that are not UTF-8", count(&|r| r.iter().any(|f| f.contains('\u{fffd}')))),
            ("exact duplicates", full.windows(2).filter(|w| w[0] == w[1]).count()),
            ("near duplicates", full.windows(2).filter(|w| w[0][0] == w[1][0] && w[0] != w[1]).count()),
            ("stray whitespace", count(&|r| r[1].starts_with(' ') || r[3].starts_with(' '))),
            ("upper-case emails", count(&|r| r[3].contains('@') && r[3] == r[3].to_uppercase())),
            (
                "invalid emails",
                count(&|r| !r[3].is_empty() && !MISSING.contains(&r[3].as_str()) && r[3].matches('@').count() != 1),
            ),
            ("invalid phones", count(&|r| r[4] == "phone" || r[4] == "12345")),
            ("d/m/Y dates", count(&|r| r[5].len() == 10 && r[5].as_bytes()[2] == b'/')),
            ("d Mon Y dates", count(&|r| r[5].split(' ').count() == 3)),
            ("impossible dates", count(&|r| r[5].ends_with("-13-40") || r[5].ends_with("-02-30"))),
            ("missing tokens", count(&|r| ["N/A", "null", "-"].contains(&r[8].as_str()))),
            ("negative amounts", count(&|r| r[8].starts_with('-') && r[8].len() > 1)),
            ("unknown regions", count(&|r| UNKNOWN_REGIONS.contains(&r[7].as_str()))),
            ("Chinese names", count(&|r| r[2].chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)))),
            ("notes with line breaks", count(&|r| r[11].contains('\n'))),
        ];
        for (what, n) in checks {
            assert!(n > 0, "no {what}");
        }
        assert!(full.iter().any(|r| r[1].contains('é') || r[2].contains('ü')), "accented names");
        assert!(full.iter().any(|r| r[11].contains(',') && r[11].contains('"')), "notes with commas and quotes");
        let updated = update.iter().filter(|r| ids.contains(&r[0])).count();
        assert!(updated > 300 && updated < 500, "{updated} updated customers");
        assert_eq!(update.len() - updated, 200, "new customers in the later export");
    }
}
