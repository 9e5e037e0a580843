// Wall-clock times in an IANA timezone <-> ISO 8601 instants with their offset, so "From" and
// "to" mean the query's own timezone, as Tally's buckets do.

const pad = (n) => String(n).padStart(2, "0");

function offsetMinutes(zone, utcMs) {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  }).formatToParts(new Date(utcMs));
  const get = (type) => Number(parts.find((p) => p.type === type).value);
  const wall = Date.UTC(get("year"), get("month") - 1, get("day"), get("hour"), get("minute"), get("second"));
  return Math.round((wall - utcMs) / 60_000);
}

// "2026-01-01T00:00" in Europe/Paris -> "2026-01-01T00:00:00+01:00".
export function zonedInstant(local, zone) {
  const [date, time = "00:00"] = local.split("T");
  const [y, m, d] = date.split("-").map(Number);
  const [hh, mm] = time.split(":").map(Number);
  const naive = Date.UTC(y, m - 1, d, hh, mm);
  const offset = offsetMinutes(zone, naive - offsetMinutes(zone, naive) * 60_000);
  const sign = offset < 0 ? "-" : "+";
  const abs = Math.abs(offset);
  return `${date}T${pad(hh)}:${pad(mm)}:00${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

// The reverse: an instant as the wall time of `zone`, for a datetime-local input.
export function wallTime(iso, zone) {
  const utc = Date.parse(iso);
  if (Number.isNaN(utc)) return "";
  const wall = new Date(utc + offsetMinutes(zone, utc) * 60_000);
  return wall.toISOString().slice(0, 16);
}

export function timezones() {
  const names = Intl.supportedValuesOf ? Intl.supportedValuesOf("timeZone") : [];
  return ["UTC", ...names.filter((n) => n !== "UTC")];
}
