//! Coarse location for People Nearby: geohash cells and distances.
//!
//! Only a 5-character geohash cell (about 4.9 km × 4.9 km) ever leaves a
//! node; distances between people are computed between cell centres, so
//! they are as coarse as the cell (shown to users as "about N km").

/// Characters of a People Nearby cell.
pub const CELL_PRECISION: usize = 5;

const BASE32: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";

/// Why a location was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GeoError {
    /// Latitude/longitude out of range or not finite.
    #[error("coordinates out of range: latitude must be -90..90, longitude -180..180")]
    BadCoordinates,
    /// Not a geohash.
    #[error("`{0}` is not a geohash (base32 letters 0-9 b-z without a i l o)")]
    BadGeohash(String),
}

/// Encodes a position as a geohash of `precision` characters.
pub fn encode(lat: f64, lon: f64, precision: usize) -> Result<String, GeoError> {
    if !lat.is_finite()
        || !lon.is_finite()
        || !(-90.0..=90.0).contains(&lat)
        || !(-180.0..=180.0).contains(&lon)
    {
        return Err(GeoError::BadCoordinates);
    }
    let (mut lat_r, mut lon_r) = ((-90.0f64, 90.0f64), (-180.0f64, 180.0f64));
    let mut out = String::with_capacity(precision);
    let (mut bits, mut ch, mut even) = (0, 0usize, true);
    while out.len() < precision {
        let (range, v) = if even {
            (&mut lon_r, lon)
        } else {
            (&mut lat_r, lat)
        };
        let mid = (range.0 + range.1) / 2.0;
        ch <<= 1;
        if v >= mid {
            ch |= 1;
            range.0 = mid;
        } else {
            range.1 = mid;
        }
        even = !even;
        bits += 1;
        if bits == 5 {
            out.push(BASE32[ch] as char);
            bits = 0;
            ch = 0;
        }
    }
    Ok(out)
}

/// A closed interval of degrees: (min, max).
pub type Span = (f64, f64);

/// The bounding box of a geohash: (latitude span, longitude span).
pub fn bounds(hash: &str) -> Result<(Span, Span), GeoError> {
    let bad = || GeoError::BadGeohash(hash.chars().take(16).collect());
    if hash.is_empty() || hash.len() > 12 {
        return Err(bad());
    }
    let (mut lat_r, mut lon_r) = ((-90.0f64, 90.0f64), (-180.0f64, 180.0f64));
    let mut even = true;
    for c in hash.bytes() {
        let idx = BASE32
            .iter()
            .position(|b| *b == c.to_ascii_lowercase())
            .ok_or_else(bad)?;
        for shift in (0..5).rev() {
            let bit = (idx >> shift) & 1;
            let range = if even { &mut lon_r } else { &mut lat_r };
            let mid = (range.0 + range.1) / 2.0;
            if bit == 1 {
                range.0 = mid;
            } else {
                range.1 = mid;
            }
            even = !even;
        }
    }
    Ok((lat_r, lon_r))
}

/// The centre of a geohash cell.
pub fn center(hash: &str) -> Result<(f64, f64), GeoError> {
    let ((a, b), (c, d)) = bounds(hash)?;
    Ok(((a + b) / 2.0, (c + d) / 2.0))
}

/// A cell and its 8 neighbours (fewer at the poles), all of the same precision.
pub fn cell_and_neighbours(hash: &str) -> Result<Vec<String>, GeoError> {
    let ((lat0, lat1), (lon0, lon1)) = bounds(hash)?;
    let (dlat, dlon) = (lat1 - lat0, lon1 - lon0);
    let (clat, clon) = ((lat0 + lat1) / 2.0, (lon0 + lon1) / 2.0);
    let mut out = Vec::with_capacity(9);
    for dy in [-1.0, 0.0, 1.0] {
        for dx in [-1.0, 0.0, 1.0] {
            let lat = clat + dy * dlat;
            if !(-90.0..=90.0).contains(&lat) {
                continue;
            }
            let mut lon = clon + dx * dlon;
            if lon > 180.0 {
                lon -= 360.0;
            } else if lon < -180.0 {
                lon += 360.0;
            }
            let h = encode(lat, lon, hash.len())?;
            if !out.contains(&h) {
                out.push(h);
            }
        }
    }
    Ok(out)
}

/// Great-circle distance in metres.
pub fn distance_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    let r = 6_371_000.0;
    let (la1, la2) = (a.0.to_radians(), b.0.to_radians());
    let dla = la2 - la1;
    let dlo = (b.1 - a.1).to_radians();
    let h = (dla / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlo / 2.0).sin().powi(2);
    2.0 * r * h.sqrt().asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_geohash() {
        // The classic example from the geohash literature.
        assert_eq!(encode(57.64911, 10.40744, 11).unwrap(), "u4pruydqqvj");
        let (lat, lon) = center("u4pruydqqvj").unwrap();
        assert!((lat - 57.64911).abs() < 1e-4 && (lon - 10.40744).abs() < 1e-4);
    }

    #[test]
    fn neighbours_cover_a_point_1km_away_but_not_300km() {
        let a = encode(39.9042, 116.4074, CELL_PRECISION).unwrap();
        let b = encode(39.9132, 116.4074, CELL_PRECISION).unwrap();
        let c = encode(39.9042, 119.9, CELL_PRECISION).unwrap();
        let near = cell_and_neighbours(&a).unwrap();
        assert_eq!(near.len(), 9);
        assert!(near.contains(&b));
        assert!(!near.contains(&c));
        let d = distance_m((39.9042, 116.4074), (39.9132, 116.4074));
        assert!((d - 1000.0).abs() < 20.0, "{d}");
    }

    #[test]
    fn garbage_is_refused() {
        assert!(encode(f64::NAN, 0.0, 5).is_err());
        assert!(encode(91.0, 0.0, 5).is_err());
        assert!(bounds("abc!").is_err());
        assert!(bounds("ailo").is_err());
        assert!(bounds("").is_err());
    }
}
