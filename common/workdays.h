/*
 * workdays.h - Dutch working days, for the referral timers: Monday to
 * Friday, less the general holidays of the Algemene termijnenwet (art. 3):
 * Nieuwjaarsdag (1 January), Easter Monday, Koningsdag (27 April, 26 April
 * when the 27th is a Sunday), Bevrijdingsdag (5 May, every year, as the
 * law counts it: many collective agreements free it only every fifth
 * year, but a deadline law treats it as a holiday each year), Ascension
 * Day, Whit Monday, Christmas Day and Boxing Day. Good Friday is not one
 * of them (it is a working day by law, free only under some agreements),
 * and Easter Sunday and Whit Sunday are Sundays anyway.
 *
 * Days are calendar dates in UTC: a timer due "N working days" after a
 * moment is due at the same time of day, N working days later. Pure
 * functions, no clock and no time zone database.
 */
#ifndef KR_WORKDAYS_H
#define KR_WORKDAYS_H

#include <stdbool.h>
#include <stdint.h>

/* Easter Sunday of 'year' (Gregorian; the anonymous algorithm of 1876,
 * Meeus/Jones/Butcher). */
void workdays_easter(int year, int *month, int *day);
/* Whether a date is a Dutch general holiday (the list above). */
bool workdays_holiday(int year, int month, int day);
/* Whether a date is a working day. */
bool workdays_is_workday(int year, int month, int day);
/* The moment 'n' working days after 'ms' (Unix ms): the same time of day
 * on the n-th working day after its date. n = 0 gives ms. */
uint64_t workdays_add(uint64_t ms, unsigned n);
/* Days since 1970-01-01 of a date, and back (proleptic Gregorian). */
int64_t workdays_days_from_civil(int year, int month, int day);
void workdays_civil_from_days(int64_t days, int *year, int *month, int *day);

#endif
