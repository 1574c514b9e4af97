/* SPDX-License-Identifier: MIT */
/*
 * The waiting room's voice: GET /api/v1/tickets/{id}/announce.wav, the call
 * of a ticket ("[station] announce", numbers read by numwords) spoken by
 * libespeak-ng's Vietnamese voice as a RIFF/WAVE file (PCM, 16-bit, mono,
 * espeak's rate). Synthesis runs on the I/O pool, one at a time (espeak-ng
 * is not thread-safe); the WAVs are kept in a bounded in-memory cache by
 * their text, so a display's second fetch (or another display's) is served
 * without synthesis (X-Cache: hit).
 */
#ifndef MOTCUA_VOICE_H
#define MOTCUA_VOICE_H

#include <stddef.h>

struct gateway;
struct voice;

/* Adds the route; espeak-ng is loaded in the background (the log says if the
 * Vietnamese voice is missing; the route then answers 503). */
struct voice *voice_new(struct gateway *gw);
void voice_free(struct voice *v);
/* The text announced for ticket number n at counter (numbers as words),
 * from the template tmpl ({number}, {counter}). Returns the length or
 * -ENOSPC. */
int voice_text(const char *tmpl, long long number, const char *counter, char *out, size_t len);

#endif
