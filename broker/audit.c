/*
 * audit.c - the audit trail, NEN 7513 style: one record per accepted or
 * refused event, written in the same transaction as the change it records,
 * so that the trail and the state can never disagree. The store chains the
 * records by hash (bstore_audit_append).
 */
#include <string.h>

#include "broker.h"
#include "bstore.h"

static void
s_bytes(ProtobufCBinaryData *d, const uint8_t *p, size_t len)
{
    if (p != NULL && len > 0) {
        d->data = (uint8_t *)p;
        d->len = len;
    }
}

int
audit_write(struct broker *b, const struct audit_ev *ev)
{
    Kr__V1__AuditRecord r = KR__V1__AUDIT_RECORD__INIT;
    MDB_txn *txn = broker_txn(b);
    char action[2] = {ev->action ? ev->action : 'E', '\0'};

    if (txn == NULL)
        return KR_ESTORE;
    r.at_ms = b->now_ms;
    r.event = (char *)ev->event;
    r.action = action;
    r.result = ev->refused ? "refused" : "success";
    r.check = (char *)(ev->check ? ev->check : "");
    r.org_id = (char *)(ev->org_id ? ev->org_id : "");
    r.object = (char *)(ev->object ? ev->object : "");
    r.reason = ev->reason;
    r.detail = (char *)(ev->detail ? ev->detail : "");
    r.instance = b->cfg.instance;
    r.noodknop = ev->noodknop;
    r.purpose = "";
    if (ev->env != NULL) {
        const Kr__V1__Envelope *e = ev->env;
        s_bytes(&r.msg_id, e->msg_id.data, e->msg_id.len == 16 ? 16 : 0);
        s_bytes(&r.referral_id, e->referral_id.data, e->referral_id.len);
        s_bytes(&r.consent_id, e->consent_id.data, e->consent_id.len);
        s_bytes(&r.subject_pseudonym, e->subject_pseudonym.data,
                e->subject_pseudonym.len);
        s_bytes(&r.actor_ref, e->actor_ref.data,
                e->actor_ref.len <= 64 ? e->actor_ref.len : 64);
        r.purpose = e->purpose ? e->purpose : "";
        r.legal_basis = e->legal_basis;
        r.message_type = e->type;
        r.data_category = e->data_category;
        if (r.object[0] == '\0' && e->recipient != NULL)
            r.object = e->recipient;
    } else if (ev->msg != NULL) {
        const Kr__V1__StoredMessage *m = ev->msg;
        s_bytes(&r.referral_id, m->referral_id.data, m->referral_id.len);
        s_bytes(&r.consent_id, m->consent_id.data, m->consent_id.len);
        r.message_type = m->type;
        if (r.object[0] == '\0')
            r.object = m->recipient;
    }
    if (ev->msg_id != NULL)
        s_bytes(&r.msg_id, ev->msg_id, 16);
    if (ev->consent_id != NULL)
        s_bytes(&r.consent_id, ev->consent_id, 16);
    return bstore_audit_append(b->store, txn, &r);
}
