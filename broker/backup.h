/*
 * backup.h - `krctl backup DIR`: a compacted copy of the broker's store
 * (mdb_env_copy2 with MDB_CP_COMPACT), made by a helper thread from a read
 * transaction while the loop goes on serving, then opened and its audit
 * chain verified before the answer goes to krctl. Restore: stop the
 * broker, put the copy's data.mdb in an empty data_dir, start it
 * (docs/OPERATIONS.md).
 */
#ifndef KR_BROKER_BACKUP_H
#define KR_BROKER_BACKUP_H

#include <stddef.h>
#include <stdint.h>

struct broker;

/* Start a backup into 'dir' (absolute; an empty directory, or one to
 * create). 0: started, the answer goes to the admin peer 'rid' when done
 * (backup_cron); otherwise a KR_E* code with 'err' set, to answer now. */
int backup_start(struct broker *b, const char *dir, const uint8_t *rid,
                 size_t rid_len, char *err, size_t errlen);
/* From the loop's cron: a backup that finished is answered. */
void backup_cron(struct broker *b);
/* At the stop: wait for a running backup (it holds the store open). */
void backup_stop(struct broker *b);

#endif
