/*
 * link_internal.h - what the files of the broker link share, and nothing
 * outside them uses. The module's interface is node.h ("link.c").
 *
 *   link.c       the connection: setup, monitor events, reconnect, Hello,
 *                directory responses, frame dispatch, flush
 *   link_send.c  the outbox side: submits, the window, resends, receipts
 *   link_recv.c  the inbox side: deliveries and notices
 */
#ifndef KRNODE_LINK_INTERNAL_H
#define KRNODE_LINK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "node.h"

/*
 * link.c
 */

/* Text from the broker goes into our log: keep it to one printable line. */
const char *link_clean(const char *in, char *out, size_t outlen);
/* Send the frame packed in l->out without blocking. KR_EUNAVAIL if libzmq
 * would not take it (no connection, or its queue is full). */
int link_send_out(struct link *l);
/* Connect again once the backoff that a refused handshake or a fatal
 * FrameError set has passed ('now' is the monotonic clock). */
void link_reconnect_if_due(struct node *n, uint64_t now);

/*
 * link_send.c
 */

/* The in-flight set, sized for 'window' submits; link_close() frees it. */
void link_inflight_init(struct inflight *f, uint64_t window);
/* Forget every submit in flight (the connection that carried them is
 * gone). */
void link_inflight_clear(struct inflight *f);
/* Start the walk of the pending order again from its first entry. */
void link_rewind(struct link *l, bool forget_inflight);
/* A receipt: the outcome goes into the outbox in the pass's transaction,
 * a durable receipt's ack into the pass. */
void link_on_receipt(struct node *n, const Kr__V1__Receipt *r);
/* After the commit: forget the pass's early submits, and take those that
 * left out of flight if the commit failed (their records do not exist). */
void link_ahead_settle(struct node *n, int commit_rc);

/*
 * link_recv.c
 */

/* What link.c found out about a delivery before handling it: its
 * envelope, unpacked, and its signature, checked on workers.c's helpers
 * together with the other deliveries of the frame. */
struct delivery_check {
    Kr__V1__Envelope *env;       /* NULL: not unpacked (or no parse) */
    uint8_t sign_pk[KR_KEY_LEN]; /* the key the signature was checked with */
    bool checked;                /* a check ran */
    bool ok;                     /* and the signature verified */
};

/* A delivery: verified, opened and committed to the inbox, deferred while
 * the sender's directory entry is asked for, or refused; acknowledged
 * after the pass's commit. pre (or NULL) is what was found before; the
 * envelope in it becomes the callee's. */
void link_on_delivery(struct node *n, const Kr__V1__Delivery *d,
                      struct delivery_check *pre);
/* A notice from the broker (a consent we received messages under was
 * revoked): committed to the inbox like a delivery, so that the adapter
 * that holds those messages learns of it, and acknowledged after the
 * commit. Deduplicated by notice_id: the broker resends until acked. */
void link_on_notice(struct node *n, const Kr__V1__Notice *nt);

#endif
