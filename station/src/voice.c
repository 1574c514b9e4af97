/* SPDX-License-Identifier: MIT */
/* The waiting room's voice (see voice.h). */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <espeak-ng/espeak_ng.h>
#include <espeak-ng/speak_lib.h>
#include <event2/buffer.h>
#include <event2/http.h>

#include "auth.h"
#include "db.h"
#include "gateway.h"
#include "http.h"
#include "log.h"
#include "numwords.h"
#include "router.h"
#include "voice.h"
#include "workers.h"

#define WHO "voice"
/* The cache: at most this many announcements and bytes (a call is ~4 s,
 * ~180 KB at 22 050 Hz). */
#define CACHE_ENTRIES 64
#define CACHE_BYTES (16u << 20)
/* Syntheses waiting or running at once, and requests waiting on one. */
#define SYNTH_MAX 8
#define WAITERS_MAX 32
/* An announcement longer than this is cut (a wording of 180 bytes is ~15 s). */
#define AUDIO_MAX_S 60
#define TEXT_MAX 2048
/* Words per minute: a little slower than espeak's 175, for a hall. */
#define SPEECH_RATE 150

/* espeak-ng is one synthesizer per process, not thread-safe: every call to
 * it is made under this lock, from an I/O worker. */
static pthread_mutex_t espeak_lock = PTHREAD_MUTEX_INITIALIZER;
static bool espeak_ready;      /* under espeak_lock */
static int espeak_rate;	       /* Hz, under espeak_lock */
static char espeak_error[256]; /* why it is not ready, under espeak_lock */

struct cache_entry {
	char *text;
	unsigned char *wav;
	size_t len;
	uint64_t used; /* the tick it was last served at */
};

struct waiter {
	struct evhttp_request *req;
	struct waiter *next;
};

/* One synthesis, with the requests waiting for it. */
struct synth {
	struct voice *v;
	struct synth *next;
	char *text;
	struct waiter *waiters;
	unsigned n_waiters;
	/* the worker's results */
	unsigned char *pcm; /* 16-bit little-endian samples */
	size_t pcm_len, pcm_cap;
	bool cut;
	int rate;
	int result;
	double ms;
	char msg[256];
};

struct voice {
	struct gateway *gw;
	struct cache_entry cache[CACHE_ENTRIES];
	size_t cache_bytes;
	uint64_t tick;
	struct synth *running; /* syntheses submitted, not yet done */
	unsigned n_running;
	unsigned long long hits, misses;
};

/* ---- the text ---- */

int voice_text(const char *tmpl, long long number, const char *counter, char *out, size_t len)
{
	char num[256], cnt[512];
	if (numwords(number < 0 ? 0 : (unsigned long long)number, 0, num, sizeof num) < 0 ||
	    numwords_text(counter ? counter : "", 0, cnt, sizeof cnt) < 0)
		return -ENOSPC;
	size_t n = 0;
	for (const char *p = tmpl; *p;) {
		const char *put = NULL;
		size_t k = 1, skip = 1;
		if (!strncmp(p, "{number}", 8)) {
			put = num;
			skip = 8;
		} else if (!strncmp(p, "{counter}", 9)) {
			put = cnt;
			skip = 9;
		} else {
			put = p;
		}
		if (put != p)
			k = strlen(put);
		if (n + k >= len)
			return -ENOSPC;
		memcpy(out + n, put, k);
		n += k;
		p += skip;
	}
	out[n] = 0;
	return (int)n;
}

/* ---- espeak-ng, on a worker under espeak_lock ---- */

static void status_text(espeak_ng_STATUS st, const char *what)
{
	char m[200];
	espeak_ng_GetStatusCodeMessage(st, m, sizeof m);
	snprintf(espeak_error, sizeof espeak_error, "%s: %s", what, m);
}

static int on_samples(short *wav, int n, espeak_EVENT *events)
{
	struct synth *s = events ? events->user_data : NULL;
	if (!s || !wav || n <= 0)
		return 0;
	size_t need = s->pcm_len + (size_t)n * 2;
	if (need > (size_t)s->rate * 2 * AUDIO_MAX_S) {
		s->cut = true;
		return 1; /* stop */
	}
	if (need > s->pcm_cap) {
		size_t cap = s->pcm_cap ? s->pcm_cap * 2 : 64 * 1024;
		while (cap < need)
			cap *= 2;
		unsigned char *p = realloc(s->pcm, cap);
		if (!p) {
			s->result = -ENOMEM;
			return 1;
		}
		s->pcm = p;
		s->pcm_cap = cap;
	}
	for (int i = 0; i < n; i++) {
		uint16_t u = (uint16_t)wav[i];
		s->pcm[s->pcm_len++] = (unsigned char)(u & 0xff);
		s->pcm[s->pcm_len++] = (unsigned char)(u >> 8);
	}
	return 0;
}

/* Loads espeak-ng and its Vietnamese voice once. Under espeak_lock. */
static bool espeak_load(void)
{
	if (espeak_ready)
		return true;
	if (espeak_error[0])
		return false; /* tried: it does not get better */
	espeak_ng_ERROR_CONTEXT ctx = NULL;
	espeak_ng_InitializePath(NULL);
	espeak_ng_STATUS st = espeak_ng_Initialize(&ctx);
	espeak_ng_ClearErrorContext(&ctx);
	if (st != ENS_OK) {
		status_text(st, "espeak-ng cannot start (is espeak-ng-data installed?)");
		return false;
	}
	st = espeak_ng_InitializeOutput(ENOUTPUT_MODE_SYNCHRONOUS, 0, NULL);
	if (st != ENS_OK) {
		status_text(st, "espeak-ng cannot set up its output");
		return false;
	}
	st = espeak_ng_SetVoiceByName("vi");
	if (st != ENS_OK) {
		status_text(st, "espeak-ng has no Vietnamese voice \"vi\" (espeak-ng-data)");
		return false;
	}
	espeak_ng_SetParameter(espeakRATE, SPEECH_RATE, 0);
	espeak_SetSynthCallback(on_samples);
	espeak_rate = espeak_ng_GetSampleRate();
	espeak_ready = espeak_rate > 0;
	if (!espeak_ready)
		snprintf(espeak_error, sizeof espeak_error, "espeak-ng reports no sample rate");
	return espeak_ready;
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void load_work(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&espeak_lock);
	double t0 = now_ms();
	if (espeak_load())
		gw_log(MOTCUA_LOG_INFO, WHO, "espeak-ng ready: Vietnamese voice, %d Hz (%.0f ms)",
		       espeak_rate, now_ms() - t0);
	else
		gw_log(MOTCUA_LOG_WARNING, WHO, "%s; announcements answer 503", espeak_error);
	pthread_mutex_unlock(&espeak_lock);
}

static void synth_work(void *arg)
{
	struct synth *s = arg;
	pthread_mutex_lock(&espeak_lock);
	double t0 = now_ms();
	if (!espeak_load()) {
		s->result = -ENODEV;
		snprintf(s->msg, sizeof s->msg, "%s", espeak_error);
	} else {
		s->rate = espeak_rate;
		espeak_ng_STATUS st =
		    espeak_ng_Synthesize(s->text, strlen(s->text) + 1, 0, POS_CHARACTER, 0,
					 espeakCHARS_UTF8 | espeakENDPAUSE, NULL, s);
		if (st == ENS_OK)
			st = espeak_ng_Synchronize();
		if (st != ENS_OK && s->result == 0) {
			char m[200];
			espeak_ng_GetStatusCodeMessage(st, m, sizeof m);
			snprintf(s->msg, sizeof s->msg, "espeak-ng: %s", m);
			s->result = -EIO;
		} else if (s->result == 0 && s->pcm_len == 0) {
			snprintf(s->msg, sizeof s->msg, "espeak-ng produced no sound");
			s->result = -EIO;
		}
	}
	s->ms = now_ms() - t0;
	pthread_mutex_unlock(&espeak_lock);
}

/* ---- WAV and the cache (on the loop) ---- */

static void le16(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)(v & 0xff);
	p[1] = (unsigned char)(v >> 8);
}

static void le32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/* A RIFF/WAVE file of 16-bit mono PCM; malloc'd. */
static unsigned char *wav_make(const unsigned char *pcm, size_t len, int rate, size_t *out_len)
{
	unsigned char *w = malloc(44 + len);
	if (!w)
		return NULL;
	memcpy(w, "RIFF", 4);
	le32(w + 4, (uint32_t)(36 + len));
	memcpy(w + 8, "WAVEfmt ", 8);
	le32(w + 16, 16);		  /* fmt chunk size */
	le16(w + 20, 1);		  /* PCM */
	le16(w + 22, 1);		  /* mono */
	le32(w + 24, (uint32_t)rate);	  /* sample rate */
	le32(w + 28, (uint32_t)rate * 2); /* byte rate */
	le16(w + 32, 2);		  /* block align */
	le16(w + 34, 16);		  /* bits per sample */
	memcpy(w + 36, "data", 4);
	le32(w + 40, (uint32_t)len);
	memcpy(w + 44, pcm, len);
	*out_len = 44 + len;
	return w;
}

static struct cache_entry *cache_find(struct voice *v, const char *text)
{
	for (size_t i = 0; i < CACHE_ENTRIES; i++)
		if (v->cache[i].text && !strcmp(v->cache[i].text, text)) {
			v->cache[i].used = ++v->tick;
			return &v->cache[i];
		}
	return NULL;
}

static void cache_drop(struct voice *v, struct cache_entry *e)
{
	v->cache_bytes -= e->len;
	free(e->text);
	free(e->wav);
	memset(e, 0, sizeof *e);
}

/* Takes wav over. */
static void cache_put(struct voice *v, const char *text, unsigned char *wav, size_t len)
{
	if (len > CACHE_BYTES / 4 || cache_find(v, text)) {
		free(wav);
		return;
	}
	for (;;) {
		struct cache_entry *free_slot = NULL, *oldest = NULL;
		for (size_t i = 0; i < CACHE_ENTRIES; i++) {
			struct cache_entry *e = &v->cache[i];
			if (!e->text)
				free_slot = free_slot ? free_slot : e;
			else if (!oldest || e->used < oldest->used)
				oldest = e;
		}
		if (free_slot && v->cache_bytes + len <= CACHE_BYTES) {
			free_slot->text = strdup(text);
			if (!free_slot->text) {
				free(wav);
				return;
			}
			free_slot->wav = wav;
			free_slot->len = len;
			free_slot->used = ++v->tick;
			v->cache_bytes += len;
			return;
		}
		cache_drop(v, oldest);
	}
}

static void reply_wav(struct evhttp_request *req, const char *text, const unsigned char *wav,
		      size_t len, bool hit, double ms)
{
	struct evbuffer *buf = evbuffer_new();
	if (!buf || evbuffer_add(buf, wav, len) < 0) {
		if (buf)
			evbuffer_free(buf);
		http_reply_error(req, 503, "no_memory", "out of memory");
		return;
	}
	http_set_header(req, "Content-Type", "audio/wav");
	/* The same ticket may be called again at another counter: ask again. */
	http_set_header(req, "Cache-Control", "no-cache");
	http_set_header(req, "X-Cache", hit ? "hit" : "miss");
	/* What is said, for a caption beside the sound (percent-encoded UTF-8). */
	char *enc = evhttp_uriencode(text, -1, 0);
	if (enc)
		http_set_header(req, "X-Announce-Text", enc);
	free(enc);
	if (!hit) {
		char t[32];
		snprintf(t, sizeof t, "%.1f", ms);
		http_set_header(req, "X-Synthesis-Ms", t);
	}
	evhttp_send_reply(req, 200, "OK", buf);
	evbuffer_free(buf);
}

static void synth_free(struct synth *s)
{
	free(s->text);
	free(s->pcm);
	free(s);
}

static void synth_done(void *arg, int cancelled)
{
	struct synth *s = arg;
	struct voice *v = s->v;
	for (struct synth **pp = &v->running; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			v->n_running--;
			break;
		}
	unsigned char *wav = NULL;
	size_t len = 0;
	if (!cancelled && s->result == 0) {
		wav = wav_make(s->pcm, s->pcm_len, s->rate, &len);
		if (wav)
			gw_log(MOTCUA_LOG_INFO, WHO,
			       "synthesized \"%s\": %.1f s of audio in %.0f ms%s", s->text,
			       (double)s->pcm_len / 2 / s->rate, s->ms,
			       s->cut ? " (cut at the limit)" : "");
	} else if (!cancelled) {
		gw_log(MOTCUA_LOG_WARNING, WHO, "cannot synthesize \"%s\": %s", s->text, s->msg);
	}
	for (struct waiter *w = s->waiters, *next; w; w = next) {
		next = w->next;
		if (http_client_gone(w->req))
			http_reply_gone(w->req);
		else if (wav)
			reply_wav(w->req, s->text, wav, len, false, s->ms);
		else if (cancelled)
			http_reply_error(w->req, 503, "stopping", "the gateway is stopping");
		else
			http_reply_error(w->req, 503, "no_voice",
					 "the announcement cannot be synthesized "
					 "(không tạo được âm thanh): %s",
					 s->msg);
		free(w);
	}
	if (wav)
		cache_put(v, s->text, wav, len);
	synth_free(s);
}

/* ---- the route ---- */

/* GET /api/v1/tickets/{id}/announce.wav */
static void route_announce(struct call *call)
{
	struct voice *v = call->data;
	struct evhttp_request *req = call->req;
	const char *idp = call->params[0];
	char *end = NULL;
	errno = 0;
	long long id = strtoll(idp, &end, 10);
	if (!idp[0] || *end || errno || id <= 0 || idp[0] == '+' || idp[0] == '-') {
		http_reply_error(req, 404, "not_found", "no ticket %s", idp);
		return;
	}
	sqlite3_stmt *st =
	    db_prepare(v->gw->db, "SELECT number, counter FROM tickets WHERE id = ?1");
	if (!st) {
		http_reply_error(req, 503, "unavailable", "the ticket cannot be read");
		return;
	}
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	long long number = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	const unsigned char *cp = rc == SQLITE_ROW ? sqlite3_column_text(st, 1) : NULL;
	char counter[128];
	snprintf(counter, sizeof counter, "%s", cp ? (const char *)cp : "");
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW) {
		http_reply_error(req, 404, "not_found", "no ticket %lld", id);
		return;
	}
	if (!counter[0]) {
		http_reply_error(req, 409, "not_called",
				 "ticket %lld has not been called to a counter yet "
				 "(số này chưa được gọi)",
				 id);
		return;
	}
	char text[TEXT_MAX];
	if (voice_text(v->gw->settings.announce ? v->gw->settings.announce : ANNOUNCE_DEFAULT,
		       number, counter, text, sizeof text) < 0) {
		http_reply_error(req, 500, "too_long", "the announcement's text is too long");
		return;
	}
	struct cache_entry *e = cache_find(v, text);
	if (e) {
		v->hits++;
		reply_wav(req, e->text, e->wav, e->len, true, 0);
		return;
	}
	v->misses++;
	struct synth *s = v->running;
	while (s && strcmp(s->text, text) != 0)
		s = s->next;
	if ((s && s->n_waiters >= WAITERS_MAX) || (!s && v->n_running >= SYNTH_MAX)) {
		http_set_header(req, "Retry-After", "1");
		http_reply_error(req, 503, "busy", "too many announcements at once; try again");
		return;
	}
	struct waiter *w = calloc(1, sizeof *w);
	if (!w) {
		http_reply_error(req, 503, "no_memory", "out of memory");
		return;
	}
	w->req = req;
	if (!s) {
		s = calloc(1, sizeof *s);
		if (!s || !(s->text = strdup(text))) {
			free(s);
			free(w);
			http_reply_error(req, 503, "no_memory", "out of memory");
			return;
		}
		s->v = v;
		int r = workers_submit(v->gw->io_workers, synth_work, synth_done, s);
		if (r < 0) {
			synth_free(s);
			free(w);
			http_set_header(req, "Retry-After", "1");
			http_reply_error(req, 503, "busy", "cannot synthesize now: %s",
					 strerror(-r));
			return;
		}
		s->next = v->running;
		v->running = s;
		v->n_running++;
	}
	w->next = s->waiters;
	s->waiters = w;
	s->n_waiters++;
}

static const struct route_def routes[] = {
    {"GET", "/api/v1/tickets/{id}/announce.wav", R_ANY, route_announce,
     "the ticket's call as speech (audio/wav), once it is called to a counter"},
};

struct voice *voice_new(struct gateway *gw)
{
	struct voice *v = calloc(1, sizeof *v);
	if (!v)
		return NULL;
	v->gw = gw;
	if (router_add_table(gw->router, routes, sizeof routes / sizeof routes[0], v, "station") <
	    0) {
		free(v);
		return NULL;
	}
	/* Load the voice now, not at the first call. */
	if (workers_submit(gw->io_workers, load_work, NULL, NULL) < 0)
		gw_log(MOTCUA_LOG_WARNING, WHO, "espeak-ng loads at the first announcement");
	return v;
}

void voice_free(struct voice *v)
{
	if (!v)
		return;
	router_remove_owner(v->gw->router, v);
	for (size_t i = 0; i < CACHE_ENTRIES; i++)
		if (v->cache[i].text)
			cache_drop(v, &v->cache[i]);
	/* Syntheses still listed were completed (as cancelled) when the I/O pool
	 * stopped, before the station: nothing is left here. */
	pthread_mutex_lock(&espeak_lock);
	if (espeak_ready)
		espeak_ng_Terminate();
	espeak_ready = false;
	espeak_error[0] = 0;
	pthread_mutex_unlock(&espeak_lock);
	free(v);
}
