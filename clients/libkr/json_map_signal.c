/* json_map_signal.c - signals, matches and retention in krctl stats. Kept
 * apart so that it moves with the JSON layer as one piece. */
#include "json_map.h"

void
json_map_signal_stats(json_object *o, const Kr__V1__BrokerStats *st)
{
    json_object_object_add(o, "signals", json_object_new_uint64(st->signals));
    json_object_object_add(o, "signals_made",
                           json_object_new_uint64(st->signals_made));
    json_object_object_add(o, "signals_withdrawn",
                           json_object_new_uint64(st->signals_withdrawn));
    json_object_object_add(o, "signals_expired",
                           json_object_new_uint64(st->signals_expired));
    json_object_object_add(o, "matches", json_object_new_uint64(st->matches));
    json_object_object_add(o, "messages_purged",
                           json_object_new_uint64(st->messages_purged));
    json_object_object_add(o, "audit_purged",
                           json_object_new_uint64(st->audit_purged));
    json_object_object_add(o, "audit_anchor_seq",
                           json_object_new_uint64(st->audit_anchor_seq));
    json_object_object_add(o, "finals_pending",
                           json_object_new_uint64(st->finals_pending));
    json_object_object_add(o, "purge_passes",
                           json_object_new_uint64(st->purge_passes));
    json_object_object_add(o, "purge_total_us",
                           json_object_new_uint64(st->purge_total_us));
    json_object_object_add(o, "purge_max_us",
                           json_object_new_uint64(st->purge_max_us));
}
