/* MQTT in: the stock tracker publishes each batch to openmohaa/events/<server_id>; ingestd reads them through a
 * shared subscription and ingests each as an HTTP batch of that server (ingest_api_submit). */
#ifndef MOHSTATS_MQTT_INGEST_H
#define MOHSTATS_MQTT_INGEST_H

#include <uv.h>

#include "broker_accounts.h"
#include "config.h"
#include "ingest_api.h"

typedef struct mqtt_ingest mqtt_ingest;

/* MQTT_URL and the other settings it reads. */
extern const config_var mqtt_ingest_config_vars[];

/* Connect to MQTT_URL (and keep reconnecting) and ingest what arrives; accounts says which servers are active.
 * NULL when MQTT_URL is empty (MQTT is off), or on a bad setting or no memory (*err says which: -EINVAL, -ENOMEM). */
mqtt_ingest *mqtt_ingest_new(uv_loop_t *loop, ingest_api *api, const broker_accounts *accounts, int *err);
/* Stop reading, let the messages taken finish (stored or refused), disconnect (the broker keeps the session and
 * queues what comes meanwhile), then done(arg). */
void mqtt_ingest_stop(mqtt_ingest *m, void (*done)(void *), void *arg);
/* After mqtt_ingest_stop's done. */
void mqtt_ingest_free(mqtt_ingest *m);

/* How long to wait before reconnecting after a failure. *ceiling_ms is the ceiling of the wait before it (0: this is
 * the first failure in a row), and becomes this one's: 1 s, doubling with each failure in a row up to 30 s. The wait
 * is drawn (by random) in the upper half of the ceiling, so that ingestd processes that failed together do not retry
 * in step. */
uint64_t mqtt_retry_wait_ms(uint64_t *ceiling_ms, uint64_t random);

#endif
