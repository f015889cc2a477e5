/* Retry-After (RFC 9110 section 10.2.3): delta-seconds or an HTTP-date in any of its three
 * forms, parsed by hand so the answer never depends on the locale, the time zone or strptime's
 * leniency. */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "http_client.h"

#define RETRY_AFTER_CAP_S 86400.0 /* a vendor asking for more than a day is not taken literally */
#define VALUE_MAX         64      /* longer than any valid form */

static const char *const months[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
static const char *const wdays[7] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
static const char *const wdays_long[7] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                          "Friday", "Saturday", "Sunday"};

struct date {
    int year, month, day, hour, min, sec; /* month 1..12 */
};

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int year_of_days(int64_t z)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    return (int)(yoe + era * 400 + (mp >= 10));
}

static int lit(const char **p, const char *s)
{
    size_t n = strlen(s);
    if (strncmp(*p, s, n) != 0)
        return 0;
    *p += n;
    return 1;
}

/* Exactly n decimal digits. */
static int num(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char ch = (*p)[i];
        if (ch < '0' || ch > '9')
            return 0;
        v = v * 10 + (ch - '0');
    }
    *p += n;
    *out = v;
    return 1;
}

static int pick(const char **p, const char *const *names, int count)
{
    for (int i = 0; i < count; i++)
        if (lit(p, names[i]))
            return i;
    return -1;
}

static int hms(const char **p, struct date *d)
{
    return num(p, 2, &d->hour) && lit(p, ":") && num(p, 2, &d->min) && lit(p, ":") &&
           num(p, 2, &d->sec);
}

/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
static int imf(const char *p, struct date *d)
{
    return pick(&p, wdays, 7) >= 0 && lit(&p, ", ") && num(&p, 2, &d->day) && lit(&p, " ") &&
           (d->month = pick(&p, months, 12) + 1) > 0 && lit(&p, " ") && num(&p, 4, &d->year) &&
           lit(&p, " ") && hms(&p, d) && lit(&p, " GMT") && !*p;
}

/* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"; the century comes from now (RFC 9110: a date more
 * than 50 years ahead means the most recent past year with those two digits). */
static int rfc850(const char *p, struct date *d, double now_epoch)
{
    int yy;
    if (!(pick(&p, wdays_long, 7) >= 0 && lit(&p, ", ") && num(&p, 2, &d->day) && lit(&p, "-") &&
          (d->month = pick(&p, months, 12) + 1) > 0 && lit(&p, "-") && num(&p, 2, &yy) &&
          lit(&p, " ") && hms(&p, d) && lit(&p, " GMT") && !*p))
        return 0;
    int now_year = year_of_days((int64_t)(now_epoch / 86400.0));
    d->year = now_year - now_year % 100 + yy;
    if (d->year > now_year + 50)
        d->year -= 100;
    return 1;
}

/* asctime: "Sun Nov  6 08:49:37 1994" (a one-digit day is padded with a space) */
static int asctime_date(const char *p, struct date *d)
{
    if (!(pick(&p, wdays, 7) >= 0 && lit(&p, " ") && (d->month = pick(&p, months, 12) + 1) > 0 &&
          lit(&p, " ")))
        return 0;
    if (*p == ' ') {
        p++;
        if (!num(&p, 1, &d->day))
            return 0;
    } else if (!num(&p, 2, &d->day)) {
        return 0;
    }
    return lit(&p, " ") && hms(&p, d) && lit(&p, " ") && num(&p, 4, &d->year) && !*p;
}

static int date_valid(const struct date *d)
{
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (d->month < 1 || d->month > 12 || d->day < 1 || d->day > mdays[d->month - 1])
        return 0;
    if (d->month == 2 && d->day == 29) {
        int leap = (d->year % 4 == 0 && d->year % 100 != 0) || d->year % 400 == 0;
        if (!leap)
            return 0;
    }
    return d->hour <= 23 && d->min <= 59 && d->sec <= 60; /* 60: a leap second */
}

static double clamp(double s)
{
    if (s < 0)
        return 0;
    return s > RETRY_AFTER_CAP_S ? RETRY_AFTER_CAP_S : s;
}

double http_retry_after_seconds(const char *value, double now_epoch)
{
    char v[VALUE_MAX + 1];
    if (!value)
        return -1;
    while (*value == ' ' || *value == '\t')
        value++;
    size_t n = strnlen(value, VALUE_MAX + 1);
    if (n > VALUE_MAX)
        return -1;
    while (n && (value[n - 1] == ' ' || value[n - 1] == '\t'))
        n--;
    if (!n)
        return -1;
    memcpy(v, value, n);
    v[n] = '\0';

    if (v[0] >= '0' && v[0] <= '9') {
        double s = 0;
        for (const char *p = v; *p; p++) {
            if (*p < '0' || *p > '9')
                return -1;
            if (s <= RETRY_AFTER_CAP_S) /* saturate: nothing past the cap matters */
                s = s * 10 + (*p - '0');
        }
        return clamp(s);
    }

    struct date d = {0};
    if (!imf(v, &d) && !rfc850(v, &d, now_epoch) && !asctime_date(v, &d))
        return -1;
    if (!date_valid(&d))
        return -1;
    double t = (double)days_from_civil(d.year, d.month, d.day) * 86400.0 + d.hour * 3600.0 +
               d.min * 60.0 + d.sec;
    return clamp(t - now_epoch);
}
