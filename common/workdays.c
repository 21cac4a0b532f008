/* workdays.c - Dutch working days; see workdays.h. */
#include "workdays.h"

#define S_DAY_MS 86400000ull

void
workdays_easter(int year, int *month, int *day)
{
    int a = year % 19, b = year / 100, c = year % 100;
    int d = b / 4, e = b % 4, f = (b + 8) / 25, g = (b - f + 1) / 3;
    int h = (19 * a + b - d - g + 15) % 30;
    int i = c / 4, k = c % 4;
    int l = (32 + 2 * e + 2 * i - h - k) % 7;
    int m = (a + 11 * h + 22 * l) / 451;

    *month = (h + l - 7 * m + 114) / 31;
    *day = (h + l - 7 * m + 114) % 31 + 1;
}

/* Howard Hinnant's days_from_civil and civil_from_days. */
int64_t
workdays_days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (unsigned)((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1);
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void
workdays_civil_from_days(int64_t z, int *year, int *month, int *day)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    unsigned d = doy - (153 * mp + 2) / 5 + 1;
    unsigned m = mp < 10 ? mp + 3 : mp - 9;
    *year = (int)(y + (m <= 2));
    *month = (int)m;
    *day = (int)d;
}

/* 0 = Monday ... 6 = Sunday; 1970-01-01 was a Thursday. */
static int
s_weekday(int64_t days)
{
    int64_t w = (days + 3) % 7;
    return (int)(w < 0 ? w + 7 : w);
}

bool
workdays_holiday(int y, int m, int d)
{
    int em, ed;

    if ((m == 1 && d == 1) || (m == 5 && d == 5) ||
        (m == 12 && (d == 25 || d == 26)))
        return true;
    int64_t day = workdays_days_from_civil(y, m, d);
    /* Koningsdag: 27 April, or the 26th when the 27th is a Sunday. */
    int64_t k27 = workdays_days_from_civil(y, 4, 27);
    int64_t king = s_weekday(k27) == 6 ? k27 - 1 : k27;
    if (day == king)
        return true;
    workdays_easter(y, &em, &ed);
    int64_t easter = workdays_days_from_civil(y, em, ed);
    return day == easter + 1 ||  /* tweede paasdag */
           day == easter + 39 || /* Hemelvaartsdag */
           day == easter + 50;   /* tweede pinksterdag */
}

bool
workdays_is_workday(int y, int m, int d)
{
    return s_weekday(workdays_days_from_civil(y, m, d)) < 5 &&
           !workdays_holiday(y, m, d);
}

uint64_t
workdays_add(uint64_t ms, unsigned n)
{
    int64_t day = (int64_t)(ms / S_DAY_MS);
    uint64_t tod = ms % S_DAY_MS;
    int y, m, d;

    /* Bounded: a year holds at least 240 working days. */
    for (unsigned counted = 0, steps = 0; counted < n && steps < 400u * n + 7;
         steps++) {
        day++;
        workdays_civil_from_days(day, &y, &m, &d);
        if (workdays_is_workday(y, m, d))
            counted++;
    }
    return (uint64_t)day * S_DAY_MS + tod;
}
