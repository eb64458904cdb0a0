/*
 * fuzz_stubs.c — the few backend symbols the fuzzed code needs outside a
 * server: ereport/elog (an ERROR jumps back to the target, like
 * PG_TRY), and loud failures for backend-only paths.
 */
#include "postgres.h"

#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>


sigjmp_buf *PG_exception_stack = NULL;
MemoryContext CurrentMemoryContext = NULL;
static int	pending_elevel;

bool
errstart(int elevel, const char *domain)
{
	pending_elevel = elevel;
	return elevel >= ERROR;
}

bool
errstart_cold(int elevel, const char *domain)
{
	return errstart(elevel, domain);
}

void
errfinish(const char *filename, int lineno, const char *funcname)
{
	if (pending_elevel >= ERROR)
	{
		if (PG_exception_stack == NULL)
		{
			fprintf(stderr, "ERROR outside a target at %s:%d\n", filename, lineno);
			abort();
		}
		siglongjmp(*PG_exception_stack, 1);
	}
}

int			errcode(int sqlerrcode) { return 0; }
int			errmsg(const char *fmt,...) { return 0; }
int			errmsg_internal(const char *fmt,...) { return 0; }
int			errdetail(const char *fmt,...) { return 0; }
int			errhint(const char *fmt,...) { return 0; }
int			errdetail_internal(const char *fmt,...) { return 0; }

/* Backend-only paths (Datum conversion): never reached from BSON input. */
#define BACKEND_ONLY(name) \
	void name(void); void name(void) { fprintf(stderr, "backend-only %s reached\n", #name); abort(); }
#ifndef FUZZ_JSONB_BSON			/* that target replays jsonb and numbers itself */
BACKEND_ONLY(DirectFunctionCall1Coll)
BACKEND_ONLY(numeric_out)
BACKEND_ONLY(JsonbIteratorInit)
BACKEND_ONLY(JsonbIteratorNext)
BACKEND_ONLY(numeric_is_nan)
BACKEND_ONLY(numeric_is_inf)
#endif
BACKEND_ONLY(DirectFunctionCall2Coll)
BACKEND_ONLY(numeric_in)
BACKEND_ONLY(jsonb_in)
BACKEND_ONLY(getBaseType)
BACKEND_ONLY(pg_detoast_datum)
BACKEND_ONLY(pg_detoast_datum_packed)
BACKEND_ONLY(text_to_cstring)
BACKEND_ONLY(timestamptz_to_str)
BACKEND_ONLY(format_type_be)
BACKEND_ONLY(float8out_internal)
BACKEND_ONLY(str_tolower)
BACKEND_ONLY(SearchSysCache1)
BACKEND_ONLY(ReleaseSysCache)
BACKEND_ONLY(deconstruct_array)
BACKEND_ONLY(lookup_rowtype_tupdesc)
BACKEND_ONLY(DecrTupleDescRefCount)
BACKEND_ONLY(heap_deform_tuple)
BACKEND_ONLY(cash_numeric)
BACKEND_ONLY(DatumGetHeapTupleHeader)
BACKEND_ONLY(pg_detoast_datum_copy)

/* Julian day numbers (Fliegel & Van Flandern), as the server computes them. */
int
date2j(int y, int m, int d)
{
	int			a = (14 - m) / 12;
	int			yy = y + 4800 - a;
	int			mm = m + 12 * a - 3;

	return d + (153 * mm + 2) / 5 + 365 * yy + yy / 4 - yy / 100 + yy / 400 - 32045;
}

void
j2date(int jd, int *year, int *month, int *day)
{
	int			a = jd + 32044;
	int			b = (4 * a + 3) / 146097;
	int			c = a - 146097 * b / 4;
	int			d = (4 * c + 3) / 1461;
	int			e = c - 1461 * d / 4;
	int			m = (5 * e + 2) / 153;

	*day = e - (153 * m + 2) / 5 + 1;
	*month = m + 3 - 12 * (m / 10);
	*year = 100 * b + d - 4800 + m / 10;
}

char *
quote_literal_cstr(const char *rawstr)
{
	size_t		n = strlen(rawstr);
	char	   *out = palloc(2 * n + 3);
	char	   *p = out;

	*p++ = '\'';
	for (; *rawstr; rawstr++)
	{
		if (*rawstr == '\'')
			*p++ = '\'';
		*p++ = *rawstr;
	}
	*p++ = '\'';
	*p = '\0';
	return out;
}

/* CHECK_FOR_INTERRUPTS: nothing is ever pending outside a server. */
volatile sig_atomic_t InterruptPending = false;

void
ProcessInterrupts(void)
{
}
