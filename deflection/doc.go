// Package deflection owns after-hours deflection: business-hours schedules, the
// global/team/user/queue settings levels and their inheritance, and their
// PostgreSQL store. It must not import gateway, routing or cmd.
//
// # Hours of operation
//
// A [Schedule] is an IANA time zone, a weekly pattern and dated exceptions. All
// of its times are local wall-clock times in that zone, and every rule below is
// applied to local dates, never to UTC dates: in Pacific/Kiritimati (UTC+14)
// Monday's hours start while it is still Sunday in UTC.
//
// An interval is half-open: open at its start, closed at its end. It belongs
// to the day it starts on. An end of "24:00" is midnight at the end of that
// day, and an end earlier than the start makes an overnight interval
// ("22:00"–"06:00") that opens on its day and runs into the next one; Sunday's
// overnight interval runs into Monday. Two touching intervals (one ends at
// "12:00", the next starts at "12:00") form one continuous opening.
//
// An exception replaces the intervals that start on its date: with no
// intervals the date is closed, with intervals those are the special hours of
// the date, and an overnight one runs into the next date as usual. Because an
// interval belongs to its start day, an overnight interval that started the
// evening before an exception date still runs until its end: closing
// Christmas Day does not cut short the Christmas Eve night shift.
//
// # Daylight-saving time
//
// A wall-clock time is turned into an instant by one rule: it is the first
// instant at which the zone's clock shows that time or later.
//
//   - A time that does not exist because the clock jumps forward is the first
//     instant after the gap. On 2026-03-08 in America/New_York the clock jumps
//     from 02:00 EST to 03:00 EDT, so an interval "01:00"–"02:30" closes at
//     03:00 EDT, one real hour after it opened; "02:30"–"05:00" opens at
//     03:00 EDT; "02:00"–"02:30" never opens that day. (Go's time.Date alone
//     would move 02:30 back to 01:30 EST and close "01:00"–"02:30" after half
//     an hour, which is why the package does not rely on its choice.)
//   - A time that exists twice because the clock goes back is its first
//     occurrence. On 2026-11-01 in America/New_York 01:00–02:00 repeats, so an
//     interval "01:30"–"02:00" opens at 01:30 EDT and closes at 02:00 EST, an
//     hour and a half later, and stays open through the repeated 01:00–01:30.
//
// Every interval thus becomes one contiguous span of real time that opens and
// closes when the clock on the wall says so for the first time.
package deflection
