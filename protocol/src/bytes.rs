//! `#[serde(with = "crate::bytes")]` for byte vectors that can be large
//! (envelope bodies, file chunks): serde writes a `Vec<u8>` element by
//! element, which for a 1 MiB chunk was most of a transfer's CPU. In
//! postcard a byte string and a sequence of `u8` are the same bytes
//! (varint length, then the bytes), so this changes speed, not the wire.

use serde::{de, Deserializer, Serializer};

/// Serialises as a byte string.
pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_bytes(v)
}

struct BytesVisitor;

impl<'de> de::Visitor<'de> for BytesVisitor {
    type Value = Vec<u8>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("bytes")
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
        Ok(v.to_vec())
    }

    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
        Ok(v)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
        // Formats without byte strings: no preallocation from a size hint
        // a peer chose.
        let mut out = Vec::new();
        while let Some(b) = seq.next_element()? {
            out.push(b);
        }
        Ok(out)
    }
}

/// Deserialises a byte string (or a sequence of bytes).
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    d.deserialize_byte_buf(BytesVisitor)
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Plain(Vec<u8>);

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Fast(#[serde(with = "crate::bytes")] Vec<u8>);

    /// The wire does not change: old and new encodings are the same bytes
    /// and each decodes the other's.
    #[test]
    fn byte_strings_are_the_same_bytes_as_u8_sequences() {
        for n in [0usize, 1, 127, 128, 300, 70_000] {
            let v: Vec<u8> = (0..n).map(|i| (i * 7) as u8).collect();
            let a = postcard::to_stdvec(&Plain(v.clone())).unwrap();
            let b = postcard::to_stdvec(&Fast(v.clone())).unwrap();
            assert_eq!(a, b);
            assert_eq!(postcard::from_bytes::<Fast>(&a).unwrap().0, v);
            assert_eq!(postcard::from_bytes::<Plain>(&b).unwrap().0, v);
        }
        // A length beyond the input is an error, not an allocation.
        assert!(postcard::from_bytes::<Fast>(&[0xff, 0xff, 0xff, 0x7f, 1]).is_err());
    }
}
