//! Proleptic Gregorian calendar arithmetic for the RTC (Howard Hinnant's
//! days-from-civil algorithms), total over all inputs so guest-written nonsense
//! dates cannot panic.

/// A broken-down UTC time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime {
    /// Full year, e.g. 2024.
    pub year: i64,
    /// Month 1-12.
    pub month: u8,
    /// Day of month 1-31.
    pub day: u8,
    /// Hour 0-23.
    pub hour: u8,
    /// Minute 0-59.
    pub minute: u8,
    /// Second 0-59.
    pub second: u8,
    /// Day of week, 0 = Sunday.
    pub weekday: u8,
}

fn days_from_civil(y: i64, m: u8, d: u8) -> i64 {
    let m = i64::from(m.clamp(1, 12));
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468 + i64::from(d.clamp(1, 31)) - 1
}

fn civil_from_days(z: i64) -> (i64, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

impl DateTime {
    /// The broken-down form of `secs` seconds since 1970-01-01 00:00:00 UTC.
    pub fn from_unix(secs: i64) -> Self {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        Self {
            year,
            month,
            day,
            hour: (rem / 3600) as u8,
            minute: (rem / 60 % 60) as u8,
            second: (rem % 60) as u8,
            weekday: (days + 4).rem_euclid(7) as u8,
        }
    }

    /// Seconds since the epoch; out-of-range fields are clamped (a day past the
    /// end of the month rolls into the next month, as the days arithmetic does).
    pub fn to_unix(&self) -> i64 {
        let days = days_from_civil(self.year.clamp(-1_000_000, 1_000_000), self.month, self.day);
        days * 86_400
            + i64::from(self.hour.min(23)) * 3600
            + i64::from(self.minute.min(59)) * 60
            + i64::from(self.second.min(59))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        let t = DateTime::from_unix(0);
        assert_eq!((t.year, t.month, t.day, t.weekday), (1970, 1, 1, 4));
        // 2000-02-29 12:34:56 UTC, a Tuesday.
        let t = DateTime::from_unix(951_827_696);
        assert_eq!(
            (t.year, t.month, t.day, t.hour, t.minute, t.second, t.weekday),
            (2000, 2, 29, 12, 34, 56, 2)
        );
        assert_eq!(t.to_unix(), 951_827_696);
    }

    #[test]
    fn round_trips_and_tolerates_nonsense() {
        for s in (-5_000_000_000i64..5_000_000_000).step_by(7_777_777) {
            assert_eq!(DateTime::from_unix(s).to_unix(), s);
        }
        let bad = DateTime {
            year: 2023,
            month: 0,
            day: 99,
            hour: 200,
            minute: 77,
            second: 255,
            weekday: 9,
        };
        let _ = bad.to_unix();
        let _ = DateTime::from_unix(i64::MIN / 2);
    }
}
