/* json_map_ops.c - protobuf -> JSON of what operators read: directory
 * entries, queue and node status, the broker's figures, consent and
 * audit records. See json_map.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "json_map.h"
#include "json_map_oom.h"
#include "json_map_out_internal.h"
#include "names.h"
#include "referral_table.h"
#include "util.h"

static json_object *
s_key_z85(const ProtobufCBinaryData *k)
{
    char z85[KR_Z85_KEY_LEN];

    if (k->len != KR_KEY_LEN || kcrypto_z85_encode(k->data, z85) != KR_OK)
        return NULL;
    return json_object_new_string(z85);
}

static json_object *
s_key_id(const ProtobufCBinaryData *k)
{
    char id[KR_KEY_ID_LEN];

    if (k->len != KR_KEY_LEN)
        return NULL;
    kcrypto_key_id(k->data, id);
    return json_object_new_string(id);
}

json_object *
json_map_org(const Kr__V1__OrgEntry *e)
{
    json_object *o = json_object_new_object();

    jmo_put_str_or_null(o, "org_id", e->org_id);
    json_object_object_add(
        o, "category",
        e->category != 0
            ? json_object_new_string(util_category_name((int)e->category))
            : NULL);
    jmo_put_str_or_null(o, "name", e->name);
    json_object_object_add(o, "status",
                           json_object_new_string(e->removed     ? "removed"
                                                  : e->suspended ? "suspended"
                                                                 : "active"));
    json_object_object_add(o, "curve_public", s_key_z85(&e->curve_public));
    json_object_object_add(o, "box_public", s_key_z85(&e->box_public));
    json_object_object_add(o, "sign_public", s_key_z85(&e->sign_public));
    json_object_object_add(o, "curve_key_id", s_key_id(&e->curve_public));
    json_object_object_add(o, "box_key_id", s_key_id(&e->box_public));
    json_object_object_add(o, "sign_key_id", s_key_id(&e->sign_public));
    json_object_object_add(o, "added_at", jmo_time(e->added_at_ms));
    json_object_object_add(o, "changed_at", jmo_time(e->changed_at_ms));
    if (e->previous_until_ms != 0) {
        /* A rekey's grace period: the old keys are honoured until then. */
        json_object_object_add(o, "previous_sign_key_id",
                               s_key_id(&e->previous_sign_public));
        json_object_object_add(o, "previous_until",
                               jmo_time(e->previous_until_ms));
    }
    return o;
}

json_object *
json_map_queue(const Kr__V1__QueueStat *q)
{
    json_object *o = json_object_new_object();

    jmo_put_str_or_null(o, "org_id", q->org_id);
    json_object_object_add(o, "depth", json_object_new_uint64(q->depth));
    json_object_object_add(o, "oldest_age_ms",
                           json_object_new_uint64(q->oldest_age_ms));
    json_object_object_add(o, "connected",
                           json_object_new_boolean(q->connected));
    json_object_object_add(o, "inflight", json_object_new_uint64(q->inflight));
    json_object_object_add(o, "early_delivery",
                           json_object_new_boolean(q->early_delivery));
    return o;
}

/* A daemon's commits and their latency (node status, broker stats). */
static void
s_put_commits(json_object *o, uint64_t commits, uint32_t p50, uint32_t p99,
              uint32_t max, uint32_t window, uint64_t total)
{
    json_object_object_add(o, "commits", json_object_new_uint64(commits));
    json_object_object_add(o, "commit_total_us", json_object_new_uint64(total));
    json_object_object_add(o, "commit_p50_us", json_object_new_uint64(p50));
    json_object_object_add(o, "commit_p99_us", json_object_new_uint64(p99));
    json_object_object_add(o, "commit_max_us", json_object_new_uint64(max));
    json_object_object_add(o, "commit_window", json_object_new_uint64(window));
}

json_object *
json_map_status(const Kr__V1__NodeStatus *st)
{
    json_object *o = json_object_new_object();

    jmo_put_str_or_null(o, "org_id", st->org_id);
    json_object_object_add(o, "connected",
                           json_object_new_boolean(st->connected));
    json_object_object_add(o, "outbox_pending",
                           json_object_new_uint64(st->outbox_pending));
    json_object_object_add(o, "outbox_open",
                           json_object_new_uint64(st->outbox_open));
    json_object_object_add(o, "inbox_unprocessed",
                           json_object_new_uint64(st->inbox_unprocessed));
    json_object_object_add(o, "held", json_object_new_uint64(st->held));
    json_object_object_add(o, "disk_full",
                           json_object_new_boolean(st->disk_full));
    json_object_object_add(o, "disk_free_bytes",
                           json_object_new_uint64(st->disk_free_bytes));
    json_object_object_add(o, "store_file_bytes",
                           json_object_new_uint64(st->store_file_bytes));
    /* Why the broker refuses the pending ones for now, or null. */
    if (st->broker_refusing != 0)
        json_object_object_add(
            o, "broker_refusing",
            json_object_new_string(reason_name((int)st->broker_refusing)));
    else
        json_object_object_add(o, "broker_refusing", NULL);
    s_put_commits(o, st->commits, st->commit_p50_us, st->commit_p99_us,
                  st->commit_max_us, st->commit_window, st->commit_total_us);
    jmo_put_str_or_null(o, "last_link_error", st->last_link_error);
    json_object_object_add(o, "last_link_error_at_ms",
                           json_object_new_uint64(st->last_link_error_at_ms));
    json_object_object_add(o, "link_errors",
                           json_object_new_uint64(st->link_errors));
    return o;
}

json_object *
json_map_broker_stats(const Kr__V1__BrokerStats *st)
{
    json_object *o = json_object_new_object();

    json_object_object_add(o, "uptime_ms",
                           json_object_new_uint64(st->uptime_ms));
    s_put_commits(o, st->commits, st->commit_p50_us, st->commit_p99_us,
                  st->commit_max_us, st->commit_window, st->commit_total_us);
    json_object_object_add(o, "commits_failed",
                           json_object_new_uint64(st->commits_failed));
    json_object_object_add(o, "early_deliveries",
                           json_object_new_uint64(st->early_deliveries));
    json_object_object_add(o, "early_passes_failed",
                           json_object_new_uint64(st->early_passes_failed));
    json_object_object_add(o, "disk_full",
                           json_object_new_boolean(st->disk_full));
    json_object_object_add(o, "disk_free_bytes",
                           json_object_new_uint64(st->disk_free_bytes));
    json_object_object_add(o, "store_file_bytes",
                           json_object_new_uint64(st->store_file_bytes));
    json_object_object_add(o, "store_room_bytes",
                           json_object_new_uint64(st->store_room_bytes));
    json_object_object_add(o, "refused_full",
                           json_object_new_uint64(st->refused_full));
    /* Referrals and their timers (broker/timers.c). */
    json_object_object_add(o, "referrals",
                           json_object_new_uint64(st->referrals));
    json_object_object_add(o, "escalations",
                           json_object_new_uint64(st->escalations));
    json_object_object_add(o, "timers_pending",
                           json_object_new_uint64(st->timers_pending));
    json_object_object_add(o, "timer_scans",
                           json_object_new_uint64(st->timer_scans));
    json_object_object_add(
        o, "timer_scan_avg_us",
        json_object_new_uint64(
            st->timer_scans ? st->timer_scan_total_us / st->timer_scans : 0));
    json_object_object_add(o, "timer_scan_max_us",
                           json_object_new_uint64(st->timer_scan_max_us));
    json_map_signal_stats(o, st);
    return o;
}

json_object *
json_map_consent_record(const Kr__V1__ConsentRecord *r)
{
    Kr__V1__ConsentScope empty = KR__V1__CONSENT_SCOPE__INIT;
    json_object *o = jmo_scope_json(r->scope != NULL ? r->scope : &empty, 1);

    json_object_object_add(o, "status",
                           jmo_enum((int)r->status, consent_status_name));
    jmo_put_str_or_null(o, "recorded_by", r->recorded_by);
    json_object_object_add(o, "recorded_at", jmo_time(r->recorded_at_ms));
    json_object_object_add(o, "grant_msg_id", jmo_hex(&r->grant_msg_id));
    json_object_object_add(o, "ended_at", jmo_time(r->ended_at_ms));
    jmo_put_str_or_null(o, "ended_by", r->ended_by);
    json_object_object_add(o, "superseded_by", jmo_hex(&r->superseded_by));
    return o;
}

json_object *
json_map_audit_record(const Kr__V1__AuditRecord *r)
{
    json_object *o = json_object_new_object();

    json_object_object_add(o, "seq", json_object_new_uint64(r->seq));
    json_object_object_add(o, "at", jmo_time(r->at_ms));
    jmo_put_str_or_null(o, "event", r->event);
    jmo_put_str_or_null(o, "action", r->action);
    jmo_put_str_or_null(o, "result", r->result);
    jmo_put_str_or_null(o, "check", r->check);
    jmo_put_str_or_null(o, "org_id", r->org_id);
    json_object_object_add(o, "actor_ref", jmo_hex(&r->actor_ref));
    json_object_object_add(o, "msg_id", jmo_hex(&r->msg_id));
    json_object_object_add(o, "referral_id", jmo_hex(&r->referral_id));
    json_object_object_add(o, "consent_id", jmo_hex(&r->consent_id));
    json_object_object_add(o, "subject_pseudonym",
                           jmo_hex(&r->subject_pseudonym));
    jmo_put_str_or_null(o, "object", r->object);
    jmo_put_str_or_null(o, "purpose", r->purpose);
    json_object_object_add(o, "legal_basis",
                           jmo_enum((int)r->legal_basis, legal_basis_name));
    json_object_object_add(o, "noodknop", json_object_new_boolean(r->noodknop));
    json_object_object_add(o, "reason", jmo_enum((int)r->reason, reason_name));
    jmo_put_str_or_null(o, "detail", r->detail);
    jmo_put_str_or_null(o, "instance", r->instance);
    json_object_object_add(o, "message_type",
                           jmo_enum((int)r->message_type, message_type_name));
    json_object_object_add(o, "data_category",
                           jmo_enum((int)r->data_category, data_category_name));
    json_object_object_add(o, "prev_hash", jmo_hex(&r->prev_hash));
    json_object_object_add(o, "hash", jmo_hex(&r->hash));
    return o;
}
