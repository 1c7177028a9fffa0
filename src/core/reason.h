/*
 * reason.h — why a request was refused or failed (generated from tbl/reasons.h).
 */
#ifndef SK_REASON_H
#define SK_REASON_H

enum sk_reason {
#define SK_REASON(sym, label, status) SK_R_##sym,
#include "core/tbl/reasons.h"
#undef SK_REASON
	SK_R__COUNT
};

const char *sk_reason_label(enum sk_reason r);
int sk_reason_status(enum sk_reason r);

#endif
