//! Inputs for the fuzz targets: real files mutated the ways real files go wrong (a flipped or
//! replaced byte, a line cut, doubled, swapped or spliced in from another file, a truncated
//! tail, a target's own keywords dropped in the wrong place), and arbitrary bytes.
//!
//! Everything is driven by one seeded generator, so a run is reproduced by its seed.

/// A small, fast, seeded generator (SplitMix64): inputs are reproducible from the run's seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `percent` %.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Bytes that mean something to some parser: separators, quotes, escapes, line ends, signs,
/// digits, the ends of the byte range and UTF-8 lead bytes without their continuation.
const INTERESTING: &[u8] = b"\n\r\t ,;:'\"\\`#()[]{}<>=-+.0123456789eE%@/\x00\x7f\x80\xbf\xc3\xe2\xf0\xff";

/// Pieces every target sees: numbers at the edges of the integer types, empty and huge
/// values, odd Unicode.
const GENERIC: &[&[u8]] = &[
    b"0",
    b"-1",
    b"2147483648",
    b"-9223372036854775808",
    b"18446744073709551616",
    b"99999999999999999999999999999999999999",
    b"1e309",
    b"NaN",
    b"-0.0",
    b"''",
    b"\"\"",
    b"NULL",
    b"\xef\xbb\xbf",
    b"\xe2\x80\xae",
    b"\xf0\x9f\x90\xa6",
    b"\\N",
    b"9999-12-31 23:59:59.999999",
    b"0000-00-00 00:00:00",
    b"1970-01-01T00:00:00Z",
    b"2026-02-30",
];

/// Makes inputs from a target's seeds and dictionary.
pub struct Mutator<'a> {
    seeds: &'a [Vec<u8>],
    dictionary: &'a [&'a [u8]],
    /// Longest input produced; longer seeds are cut to a window of whole lines.
    max_len: usize,
}

impl<'a> Mutator<'a> {
    pub fn new(seeds: &'a [Vec<u8>], dictionary: &'a [&'a [u8]], max_len: usize) -> Mutator<'a> {
        Mutator { seeds, dictionary, max_len }
    }

    /// The next input: usually a seed with one to eight mutations stacked, sometimes a seed as
    /// it is, sometimes arbitrary bytes.
    pub fn input(&self, rng: &mut Rng) -> Vec<u8> {
        let roll = rng.below(100);
        if roll < 4 || self.seeds.is_empty() {
            return arbitrary(rng, self.max_len.min(4096));
        }
        let seed: &Vec<u8> = rng.pick(self.seeds);
        let mut data = self.window(seed, rng);
        if roll < 8 {
            return data;
        }
        for _ in 0..1 + rng.below(8) {
            self.mutate(&mut data, rng);
        }
        data.truncate(self.max_len);
        data
    }

    /// A run of whole lines of `seed` at most `max_len` long (the whole seed when it fits).
    fn window(&self, seed: &[u8], rng: &mut Rng) -> Vec<u8> {
        if seed.len() <= self.max_len {
            return seed.to_vec();
        }
        let mut start = rng.below(seed.len() - self.max_len / 2);
        while start > 0 && seed[start - 1] != b'\n' {
            start -= 1;
        }
        let mut end = (start + self.max_len).min(seed.len());
        while end < seed.len() && end > start + 1 && seed[end - 1] != b'\n' {
            end -= 1;
        }
        seed[start..end].to_vec()
    }

    fn mutate(&self, data: &mut Vec<u8>, rng: &mut Rng) {
        match rng.below(14) {
            0 if !data.is_empty() => {
                let at = rng.below(data.len());
                data[at] ^= 1 << rng.below(8);
            }
            1 if !data.is_empty() => {
                let at = rng.below(data.len());
                data[at] = *rng.pick(INTERESTING);
            }
            2 => {
                let at = rng.below(data.len() + 1);
                data.insert(at, *rng.pick(INTERESTING));
            }
            3 if !data.is_empty() => {
                let at = rng.below(data.len());
                let len = 1 + rng.below((data.len() - at).min(64));
                data.drain(at..at + len);
            }
            4 if !data.is_empty() => {
                // Duplicate a range in place (a repeated field, a doubled value).
                let at = rng.below(data.len());
                let len = 1 + rng.below((data.len() - at).min(256));
                let copy = data[at..at + len].to_vec();
                let to = rng.below(data.len() + 1);
                data.splice(to..to, copy);
            }
            5 | 6 if !self.dictionary.is_empty() => {
                let word = *rng.pick(self.dictionary);
                let at = self.position(data, rng);
                data.splice(at..at, word.iter().copied());
            }
            7 => {
                let word = *rng.pick(GENERIC);
                let at = self.position(data, rng);
                data.splice(at..at, word.iter().copied());
            }
            8 => {
                let lines = split_lines(data);
                if lines.len() > 1 {
                    // Swap two lines.
                    let (a, b) = (rng.below(lines.len()), rng.below(lines.len()));
                    let mut order: Vec<usize> = (0..lines.len()).collect();
                    order.swap(a, b);
                    *data = order.iter().flat_map(|i| lines[*i].iter().copied()).collect();
                }
            }
            9 => {
                let lines = split_lines(data);
                if !lines.is_empty() {
                    // Drop or double a line.
                    let at = rng.below(lines.len());
                    let mut out: Vec<&[u8]> = lines.clone();
                    match rng.chance(50) {
                        true => {
                            out.remove(at);
                        }
                        false => out.insert(at, lines[at]),
                    }
                    *data = out.concat();
                }
            }
            10 if !self.seeds.is_empty() => {
                // Splice in lines of another seed (entries of another server version).
                let other = rng.pick(self.seeds);
                let lines = split_lines(other);
                if !lines.is_empty() {
                    let from = rng.below(lines.len());
                    let count = 1 + rng.below((lines.len() - from).min(8));
                    let piece: Vec<u8> = lines[from..from + count].concat();
                    let at = self.line_start(data, rng);
                    data.splice(at..at, piece);
                }
            }
            11 if !data.is_empty() => {
                // Truncate: a file cut mid-write.
                let at = rng.below(data.len());
                data.truncate(at);
            }
            12 if !data.is_empty() => {
                // Overwrite a run of bytes with one repeated byte (zeroed or filled blocks).
                let at = rng.below(data.len());
                let len = 1 + rng.below((data.len() - at).min(32));
                let byte = *rng.pick(INTERESTING);
                data[at..at + len].fill(byte);
            }
            _ => {
                // A long run: one very long token or line.
                let at = self.position(data, rng);
                let byte = *rng.pick(b"a9 ,'(\n");
                let len = 1 + rng.below(2048);
                data.splice(at..at, std::iter::repeat_n(byte, len));
            }
        }
    }

    /// Where to insert: anywhere, or at a line start or a separator (where keywords matter).
    fn position(&self, data: &[u8], rng: &mut Rng) -> usize {
        match rng.below(3) {
            0 => self.line_start(data, rng),
            1 => {
                let separators: Vec<usize> = data
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| matches!(b, b' ' | b',' | b':' | b'\t' | b'='))
                    .map(|(i, _)| i + 1)
                    .collect();
                if separators.is_empty() { rng.below(data.len() + 1) } else { *rng.pick(&separators) }
            }
            _ => rng.below(data.len() + 1),
        }
    }

    fn line_start(&self, data: &[u8], rng: &mut Rng) -> usize {
        let starts: Vec<usize> = std::iter::once(0)
            .chain(data.iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(i, _)| i + 1))
            .collect();
        *rng.pick(&starts)
    }
}

/// Lines with their terminators (the last may have none).
fn split_lines(data: &[u8]) -> Vec<&[u8]> {
    data.split_inclusive(|b| *b == b'\n').collect()
}

const PRINTABLE: &[u8] = b" \n,:;#'\"()-=.0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// Arbitrary bytes, often mostly printable (parsers reject pure noise at the first byte).
fn arbitrary(rng: &mut Rng, max_len: usize) -> Vec<u8> {
    let len = rng.below(max_len + 1);
    let printable = rng.chance(70);
    (0..len)
        .map(|_| match printable {
            true => PRINTABLE[rng.below(PRINTABLE.len())],
            false => rng.next_u64() as u8,
        })
        .collect()
}
