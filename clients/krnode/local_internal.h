/*
 * local_internal.h - what the parts of the adapters' socket share: the
 * routing of a request, the requests that wait, and the replies. Not for
 * use outside local*.c.
 */
#ifndef KR_LOCAL_INTERNAL_H
#define KR_LOCAL_INTERNAL_H

#include "node.h"

/* The routing envelope of a request: who gets the reply. */
struct origin {
    uint8_t rid[NODE_RID_MAX];
    size_t rid_len;
    bool delim; /* REQ clients put an empty frame first */
};

struct parked {
    struct origin from;
    uint8_t *req; /* the LocalRequest as received */
    size_t len;
    char org[KR_ORG_ID_MAX]; /* the recipient we wait for */
    uint64_t deadline_mono;
};

/* An inbox request that waits for something to arrive. */
struct inbox_wait {
    struct origin from;
    Kr__V1__ListRequest lr; /* its parameters (no pointers) */
    uint64_t deadline_mono;
};

struct outbox_wait {
    struct origin from;
    uint8_t msg_id[KR_ID_LEN];
    uint64_t deadline_mono;
};

/* local_outbox_wait.c: an outbox_wait request, answered from 'txn' (the
 * read snapshot) now if its message has an outcome, else held. */
void local_outbox_wait(struct node *n, MDB_txn *txn, const struct origin *from,
                       const Kr__V1__OutboxWait *w);

/* Outbox waits past their deadline are answered as they are (pending);
 * at a stop all are; the loop's poll ends by the nearest deadline. */
void local_outbox_timers(struct node *n);
void local_outbox_stop(struct node *n);
long local_outbox_timeout(const struct node *n, long timeout);

/* Replies (local.c): added to the pass, sent after its commit. */
void local_reply(struct node *n, const struct origin *from,
                 const Kr__V1__LocalResponse *resp);
void local_reply_err(struct node *n, const struct origin *from, int err,
                     const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void local_reply_ids(struct node *n, const struct origin *from,
                     const uint8_t *msg_id, const uint8_t *consent_id);
void local_reply_id(struct node *n, const struct origin *from,
                    const uint8_t *msg_id);

/* A send (local_send.c); data/len: the LocalRequest, kept if it parks. */
void local_send(struct node *n, const struct origin *from,
                const Kr__V1__SendRequest *sr, const uint8_t *data, size_t len);
/* Log once when sends are taken again after the store was full. */
void local_room_again(struct node *n);

/* Listings (local_list.c). */
void local_list_inbox(struct node *n, MDB_txn *txn, const struct origin *from,
                      const Kr__V1__ListRequest *lr, uint64_t deadline_mono);
void local_list_outbox(struct node *n, const struct origin *from,
                       const Kr__V1__ListRequest *lr);
void local_outbox_get(struct node *n, const struct origin *from,
                      const ProtobufCBinaryData *id);
int local_inbox_item(struct node *n, MDB_txn *txn, const uint8_t id[KR_ID_LEN],
                     Kr__V1__InboxItem **out);
void local_inbox_get(struct node *n, const struct origin *from,
                     const ProtobufCBinaryData *id);
/* Answer the inbox waits that are due (all of them after an arrival). */
void local_answer_waits(struct node *n, MDB_txn *txn, bool arrival);

/* local_read.c: a read-only request is answered at once from the last
 * commit: between begin (false: not a read, or no snapshot) and end, the
 * handlers' pass_txn() is the snapshot, and end sends their replies. The
 * referral reads. */
bool local_read_begin(struct node *n, const Kr__V1__LocalRequest *req,
                      size_t *before);
void local_read_end(struct node *n, size_t before);
void local_referrals(struct node *n, const struct origin *from,
                     const Kr__V1__LocalRequest *req);
void local_referral_view(struct node *n, const struct origin *from,
                         const Kr__V1__LocalRequest *req);
/* Send the pass's replies [from, to) now (after commit_rc). */
void local_send_replies(struct node *n, size_t from, size_t to, int commit_rc);

#endif
