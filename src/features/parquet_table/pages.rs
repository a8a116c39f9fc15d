//! The page headers of a Parquet column chunk, checked before the `parquet` crate reads them:
//! it allocates a page's claimed uncompressed size, and a header's binary fields, up front. A
//! small reader of Thrift's compact protocol walks each header with every length checked
//! against the bytes that are really there.

use super::MAX_EXPANSION;

/// Walks the page headers of one column chunk (`chunk`, its bytes): each header must parse,
/// its page must lie within the chunk, every binary field in it must fit the bytes after it,
/// and a page may not claim to expand more than Snappy can. The `parquet` crate allocates a
/// page's claimed uncompressed size, and a header's binary fields, before reading them.
///
/// Returns the longest value of the chunk's dictionary pages (0 without one), read from them
/// (`snappy`: the chunk's pages are Snappy-compressed) when `text` says the column holds byte
/// arrays: a dictionary-coded page can repeat one long value for every row in a few bytes, and
/// the reader copies it out for each, so the caller bounds rows times this length.
pub(super) fn check_pages(chunk: &[u8], text: bool, snappy: bool) -> Result<u64, String> {
    let mut pos = 0usize;
    let mut pages = 0usize;
    let mut longest = 0u64;
    while pos < chunk.len() {
        let mut t = Thrift {
            buf: &chunk[pos..],
            pos: 0,
        };
        let (kind, uncompressed, compressed) = t.page_header()?;
        let (Ok(u), Ok(c)) = (u64::try_from(uncompressed), u64::try_from(compressed)) else {
            return Err(format!("page {pages}: negative size"));
        };
        let body = pos + t.pos;
        if (body as u64).saturating_add(c) > chunk.len() as u64 {
            return Err(format!(
                "page {pages}: runs past the end of its column chunk"
            ));
        }
        if u > c.saturating_mul(MAX_EXPANSION) + 4096 {
            return Err(format!(
                "page {pages}: claims {u} bytes uncompressed from {c} bytes, more than Snappy can expand"
            ));
        }
        if text && kind == Some(DICTIONARY_PAGE) {
            let page = &chunk[body..body + c as usize];
            longest =
                longest.max(longest_value(page, snappy).map_err(|e| format!("page {pages}: {e}"))?);
        }
        pos = body + c as usize;
        pages += 1;
    }
    Ok(longest)
}

/// Parquet's `PageType::DICTIONARY_PAGE`.
const DICTIONARY_PAGE: i32 = 2;

/// The longest value of a dictionary page of byte arrays (PLAIN: a 4-byte length, then the
/// bytes, for each value), decompressed first when `snappy`.
fn longest_value(page: &[u8], snappy: bool) -> Result<u64, String> {
    let plain = if snappy {
        // Its length is checked against the page's size before anything is allocated.
        let n = snap::raw::decompress_len(page)
            .map_err(|e| format!("dictionary page is not Snappy data: {e}"))?;
        if n as u64 > (page.len() as u64).saturating_mul(MAX_EXPANSION) + 4096 {
            return Err("dictionary page claims more than Snappy can expand".into());
        }
        std::borrow::Cow::Owned(
            snap::raw::Decoder::new()
                .decompress_vec(page)
                .map_err(|e| format!("dictionary page is not Snappy data: {e}"))?,
        )
    } else {
        std::borrow::Cow::Borrowed(page)
    };
    let (mut i, mut longest) = (0usize, 0u64);
    while let Some(len) = plain.get(i..i + 4) {
        let n = u64::from(u32::from_le_bytes(len.try_into().expect("4 bytes")));
        longest = longest.max(n);
        i = (i + 4).saturating_add(n as usize);
    }
    Ok(longest)
}

/// Just enough of Thrift's compact protocol to read a page header's two sizes and skip the
/// rest, with every length checked against the bytes left and nesting bounded.
struct Thrift<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Thrift<'_> {
    fn byte(&mut self) -> Result<u8, String> {
        let b = *self.buf.get(self.pos).ok_or("page header truncated")?;
        self.pos += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..70).step_by(7) {
            let b = self.byte()?;
            if shift == 63 && b > 1 {
                return Err("page header: varint overflows".into());
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("page header: varint too long".into())
    }

    fn zigzag(&mut self) -> Result<i64, String> {
        let v = self.varint()?;
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    fn skip(&mut self, n: u64) -> Result<(), String> {
        let left = (self.buf.len() - self.pos) as u64;
        if n > left {
            return Err(format!(
                "page header: a field claims {n} bytes, {left} are left"
            ));
        }
        self.pos += n as usize;
        Ok(())
    }

    /// Skips one value of compact type `ty`.
    fn skip_value(&mut self, ty: u8, depth: usize) -> Result<(), String> {
        if depth > 16 {
            return Err("page header nested too deep".into());
        }
        match ty {
            1 | 2 => Ok(()),
            3 => self.skip(1),
            4..=6 => self.varint().map(|_| ()),
            7 => self.skip(8),
            8 => {
                let n = self.varint()?;
                self.skip(n)
            }
            9 | 10 => {
                let h = self.byte()?;
                let elem = h & 0x0f;
                let n = match h >> 4 {
                    15 => self.varint()?,
                    n => u64::from(n),
                };
                if n > (self.buf.len() - self.pos) as u64 {
                    return Err("page header: a list claims more items than bytes left".into());
                }
                for _ in 0..n {
                    if elem == 1 || elem == 2 {
                        self.skip(1)?;
                    } else {
                        self.skip_value(elem, depth + 1)?;
                    }
                }
                Ok(())
            }
            11 => {
                let n = self.varint()?;
                if n == 0 {
                    return Ok(());
                }
                if n > (self.buf.len() - self.pos) as u64 {
                    return Err("page header: a map claims more items than bytes left".into());
                }
                let kv = self.byte()?;
                for _ in 0..n {
                    self.skip_value(kv >> 4, depth + 1)?;
                    self.skip_value(kv & 0x0f, depth + 1)?;
                }
                Ok(())
            }
            12 => self.skip_struct(depth + 1, |_, _, _| Ok(false)).map(|_| ()),
            other => Err(format!("page header: unknown field type {other}")),
        }
    }

    /// Reads a struct's fields, handing each to `take` (field id, type, self), which reads it
    /// and returns true, or returns false to have it skipped.
    fn skip_struct(
        &mut self,
        depth: usize,
        mut take: impl FnMut(i16, u8, &mut Self) -> Result<bool, String>,
    ) -> Result<(), String> {
        let mut last: i16 = 0;
        loop {
            let h = self.byte()?;
            if h == 0 {
                return Ok(());
            }
            let ty = h & 0x0f;
            let id = match h >> 4 {
                0 => i16::try_from(self.zigzag()?).map_err(|_| "page header: bad field id")?,
                d => last.wrapping_add(i16::from(d)),
            };
            last = id;
            if !take(id, ty, self)? {
                self.skip_value(ty, depth)?;
            }
        }
    }

    /// A PageHeader: (type, uncompressed_page_size, compressed_page_size), the sizes required.
    fn page_header(&mut self) -> Result<(Option<i32>, i64, i64), String> {
        let (mut kind, mut u, mut c) = (None, None, None);
        self.skip_struct(0, |id, ty, t| {
            if (1..=3).contains(&id) && ty == 5 {
                let v = t.zigzag()?;
                match id {
                    1 => kind = i32::try_from(v).ok(),
                    2 => u = Some(v),
                    _ => c = Some(v),
                }
                Ok(true)
            } else {
                Ok(false)
            }
        })?;
        match (u, c) {
            (Some(u), Some(c)) => Ok((kind, u, c)),
            _ => Err("page header without its sizes".into()),
        }
    }
}
