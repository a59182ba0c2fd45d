//! Build-time checks of PostgreSQL-dialect migrations, on a scratch database
//! created on the server `MIGCHECK_SCRATCH_URL` names and dropped afterwards,
//! even on failure.
//!
//! The same checks as on SQLite: each file runs (in a transaction unless it
//! says `no-transaction`), reversible migrations run up, down and up again
//! with the schema compared, and `schema.sql` is compared with the result. The
//! schema is read from the catalogs (`format_type`, `pg_get_constraintdef`,
//! `pg_get_indexdef`, `pg_get_viewdef`, `pg_get_triggerdef`,
//! `pg_get_functiondef`): PostgreSQL prints each definition canonically, so
//! comparing them compares the schemas. There is no sandbox on a server: point
//! the variable at a throwaway server (scripts/pg-start starts one).

mod rows;
mod run;
mod trace;
pub mod wire;

use std::collections::{BTreeMap, BTreeSet};

pub(crate) use run::run_script;
use run::{io, located};
use wire::{Client, PgError, PgUrl};

use std::time::Duration;

use crate::diagnostic::{Diagnostic, Kind, Location};
use crate::engine::{ColumnShape, Contents, Engine, StatementTrace};
use crate::model::{Digest, Migration, Script};

/// A schema as the catalogs describe it: (kind, name) → definition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PgSnapshot {
    pub objects: BTreeMap<(String, String), String>,
}

const USER_SCHEMAS: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'";

/// Reads the schema of the connected database.
pub fn snapshot(client: &mut Client) -> Result<PgSnapshot, PgError> {
    snapshot_where(client, USER_SCHEMAS)
}

/// The objects of the schemas `filter` selects (a condition on
/// `n.nspname`), one row per property pg_dump would write: tables with
/// their kind, persistence, partitioning, inheritance, row-level security,
/// storage parameters and replica identity; columns with type, collation,
/// nullability, default or generation, identity, statistics target, storage
/// and compression; constraints of tables and domains; indexes (clustered,
/// replica identity, attached partitions); views and materialized views with
/// their options (an INVALID index, left by a `CREATE INDEX CONCURRENTLY`
/// that failed, says so); triggers and rules with their enabled state; functions,
/// procedures and aggregates; sequences with their options and owning
/// column; enum, domain, composite and range types; collations; extended
/// statistics; policies; comments; owners other than the migrating role;
/// privileges that differ from the defaults, default privileges; schemas,
/// extensions, publications and event triggers. Objects that belong to an
/// extension are left out, as pg_dump leaves them out.
///
/// The columns are text: a `UNION ALL` types them after its first `SELECT`,
/// and a `name` would cut long `table.constraint` keys at 63 bytes, so that
/// two of them would share a key. Names are qualified with their schema
/// unless it is the current one; an index's definition leaves out its
/// table's schema, which `pg_get_indexdef` always writes, so that the same
/// migrations read the same in any schema.
fn snapshot_where(client: &mut Client, filter: &str) -> Result<PgSnapshot, PgError> {
    let sql = snapshot_sql(filter);
    let mut out = PgSnapshot::default();
    for row in client.query(&sql)? {
        let get = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
        out.objects.insert((get(0), get(1)), get(2));
    }
    Ok(out)
}

/// The query behind [`snapshot_where`].
fn snapshot_sql(filter: &str) -> String {
    // `filter` on another namespace column.
    let on = |column: &str| filter.replace("n.nspname", column);
    // `name` qualified by the namespace `ns` unless it is the current schema.
    let q = |ns: &str, name: &str| {
        format!("(CASE WHEN {ns}.nspname = current_schema() THEN '' ELSE {ns}.nspname || '.' END || {name})")
    };
    // Whether the object `objid` of catalog `catalog` belongs to an extension.
    let member = |catalog: &str, objid: &str| {
        format!(
            "EXISTS (SELECT 1 FROM pg_depend m WHERE m.classid = '{catalog}'::regclass AND m.objid = {objid} AND m.deptype = 'e')"
        )
    };
    let (table, rel, column) = (q("n", "c.relname"), q("n", "c.relname"), q("n", "c.relname || '.' || a.attname"));
    let relkind_word = "CASE c.relkind WHEN 'S' THEN 'sequence ' WHEN 'v' THEN 'view ' WHEN 'm' THEN 'materialized view ' WHEN 'f' THEN 'foreign table ' ELSE 'table ' END";
    let not_member_class = format!("NOT {}", member("pg_class", "c.oid"));
    let not_member_proc = format!("NOT {}", member("pg_proc", "p.oid"));
    let not_member_type = format!("NOT {}", member("pg_type", "t.oid"));
    let function = q("n", "p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')'");
    let type_name = q("n", "t.typname");
    // User types: not arrays, not the row types of tables and views.
    let user_type = "NOT (t.typtype = 'b' AND t.typelem <> 0 AND t.typlen = -1) AND (t.typrelid = 0 OR (SELECT r.relkind FROM pg_class r WHERE r.oid = t.typrelid) = 'c')";
    let sorted = |array: &str| format!("(SELECT string_agg(o, ', ' ORDER BY o) FROM unnest({array}) o)");
    format!(
        "WITH objs AS (
           SELECT {relkind_word} || {rel} AS label, c.relowner AS owner, c.relacl AS acl,
                  CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END AS kind
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND {filter} AND {not_member_class}
           UNION ALL
           SELECT CASE p.prokind WHEN 'p' THEN 'procedure ' WHEN 'a' THEN 'aggregate ' ELSE 'function ' END || {function},
                  p.proowner, p.proacl, 'f'
             FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE {filter} AND {not_member_proc}
           UNION ALL
           SELECT 'type ' || {type_name}, t.typowner, t.typacl, 'T'
             FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
            WHERE {user_type} AND {filter} AND {not_member_type}
           UNION ALL
           SELECT 'schema ' || n.nspname, n.nspowner, n.nspacl, 'n' FROM pg_namespace n
            WHERE {filter} AND n.nspname <> 'public' AND n.nspname <> current_schema() AND NOT {ns_member}
         )
         SELECT 'table'::text, {table}::text,
                concat_ws(', ',
                  CASE WHEN c.relkind = 'p' THEN 'partitioned by ' || pg_get_partkeydef(c.oid) END,
                  CASE WHEN c.relpersistence = 'u' THEN 'unlogged' END,
                  CASE WHEN c.relrowsecurity THEN 'row level security' END,
                  CASE WHEN c.relforcerowsecurity THEN 'forced row level security' END,
                  CASE WHEN c.relispartition THEN 'partition of '
                    || (SELECT h.inhparent::regclass::text FROM pg_inherits h WHERE h.inhrelid = c.oid)
                    || ' ' || pg_get_expr(c.relpartbound, c.oid) END,
                  CASE WHEN NOT c.relispartition THEN (SELECT 'inherits ' || string_agg(h.inhparent::regclass::text, ', ' ORDER BY h.inhseqno)
                    FROM pg_inherits h WHERE h.inhrelid = c.oid) END,
                  CASE WHEN c.reloftype <> 0 THEN 'of type ' || format_type(c.reloftype, NULL) END,
                  'with (' || {reloptions} || ')',
                  (SELECT 'with (' || {toast_options} || ')' FROM pg_class x WHERE x.oid = c.reltoastrelid),
                  CASE c.relreplident WHEN 'f' THEN 'replica identity full' WHEN 'n' THEN 'replica identity nothing'
                    WHEN 'i' THEN 'replica identity index' END,
                  (SELECT 'using ' || m.amname FROM pg_am m WHERE m.oid = c.relam AND m.amname <> 'heap'))::text
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE c.relkind IN ('r', 'p', 'f') AND {filter} AND {not_member_class}
         UNION ALL
         SELECT 'column', {column},
                format_type(a.atttypid, a.atttypmod)
                || CASE WHEN a.attcollation <> t.typcollation THEN ' COLLATE ' || a.attcollation::regcollation::text ELSE '' END
                || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
                || CASE WHEN a.attgenerated = 's' THEN ' GENERATED ALWAYS AS (' || pg_get_expr(d.adbin, d.adrelid) || ') STORED'
                   ELSE COALESCE(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '') END
                || CASE a.attidentity WHEN 'a' THEN ' GENERATED ALWAYS AS IDENTITY' WHEN 'd' THEN ' GENERATED BY DEFAULT AS IDENTITY' ELSE '' END
                || CASE WHEN COALESCE(a.attstattarget, -1) >= 0 THEN ' STATISTICS ' || a.attstattarget ELSE '' END
                || CASE WHEN a.attstorage <> t.typstorage THEN ' STORAGE ' || CASE a.attstorage WHEN 'p' THEN 'PLAIN'
                     WHEN 'e' THEN 'EXTERNAL' WHEN 'm' THEN 'MAIN' ELSE 'EXTENDED' END ELSE '' END
                || CASE WHEN a.attcompression <> '' THEN ' COMPRESSION ' || CASE a.attcompression WHEN 'l' THEN 'lz4' ELSE 'pglz' END ELSE '' END
                || COALESCE(' WITH (' || {attoptions} || ')', '')
                || CASE WHEN NOT a.attislocal AND c.relkind IN ('r', 'p', 'f') AND NOT c.relispartition THEN ' (inherited)' ELSE '' END
           FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
           JOIN pg_type t ON t.oid = a.atttypid
           LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
           WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'c', 'f') AND {filter}
             AND {not_member_class}
         UNION ALL
         SELECT 'constraint', {rel} || '.' || k.conname, pg_get_constraintdef(k.oid)
           FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE {filter} AND {not_member_class}
         UNION ALL
         SELECT 'constraint', {type_name} || '.' || k.conname, pg_get_constraintdef(k.oid)
           FROM pg_constraint k JOIN pg_type t ON t.oid = k.contypid JOIN pg_namespace n ON n.oid = t.typnamespace
           WHERE {filter} AND {not_member_type}
         UNION ALL
         SELECT 'index', {index},
                replace(pg_get_indexdef(i.oid), ' ON ' || quote_ident(n.nspname) || '.', ' ON ')
                || CASE WHEN NOT x.indisvalid THEN ' INVALID' ELSE '' END
                || CASE WHEN x.indisclustered THEN ' CLUSTER' ELSE '' END
                || CASE WHEN x.indisreplident THEN ' REPLICA IDENTITY' ELSE '' END
                || COALESCE((SELECT ' ATTACHED TO ' || h.inhparent::regclass::text FROM pg_inherits h WHERE h.inhrelid = i.oid), '')
                || COALESCE((SELECT ' STATISTICS ' || string_agg(s.attnum || '=' || s.attstattarget, ', ' ORDER BY s.attnum)
                    FROM pg_attribute s WHERE s.attrelid = i.oid AND COALESCE(s.attstattarget, -1) >= 0), '')
           FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_namespace n ON n.oid = i.relnamespace
           WHERE {filter} AND NOT {index_member}
         UNION ALL
         SELECT 'view', {rel},
                CASE WHEN c.relkind = 'm' THEN 'MATERIALIZED ' ELSE '' END || COALESCE('WITH (' || {reloptions} || ') ', '')
                || pg_get_viewdef(c.oid)
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE c.relkind IN ('v', 'm') AND {filter} AND {not_member_class}
         UNION ALL
         SELECT 'trigger', {rel} || '.' || t.tgname,
                pg_get_triggerdef(t.oid) || CASE t.tgenabled WHEN 'D' THEN ' DISABLED' WHEN 'R' THEN ' ENABLE REPLICA'
                  WHEN 'A' THEN ' ENABLE ALWAYS' ELSE '' END
           FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE NOT t.tgisinternal AND {filter} AND {not_member_class}
         UNION ALL
         SELECT 'rule', {rel} || '.' || r.rulename,
                pg_get_ruledef(r.oid) || CASE r.ev_enabled WHEN 'D' THEN ' DISABLED' WHEN 'R' THEN ' ENABLE REPLICA'
                  WHEN 'A' THEN ' ENABLE ALWAYS' ELSE '' END
           FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE r.rulename <> '_RETURN' AND {filter} AND {not_member_class}
         UNION ALL
         SELECT 'function', {function}, pg_get_functiondef(p.oid)
           FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE p.prokind IN ('f', 'p', 'w') AND {filter} AND {not_member_proc}
         UNION ALL
         SELECT 'aggregate', {function},
                (SELECT string_agg(j.key || '=' || j.value, ' ' ORDER BY j.key)
                   FROM jsonb_each_text(to_jsonb(g) - 'aggfnoid' - 'aggtranstype' - 'aggmtranstype') j)
                || ' stype=' || format_type(g.aggtranstype, NULL) || ' mstype=' || format_type(g.aggmtranstype, NULL)
                || ' ' || pg_get_function_result(p.oid)
           FROM pg_aggregate g JOIN pg_proc p ON p.oid = g.aggfnoid JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE {filter} AND {not_member_proc}
         UNION ALL
         SELECT 'sequence', {rel},
                'AS ' || format_type(s.seqtypid, NULL) || ' START ' || s.seqstart || ' INCREMENT ' || s.seqincrement
                || ' MINVALUE ' || s.seqmin || ' MAXVALUE ' || s.seqmax || ' CACHE ' || s.seqcache
                || CASE WHEN s.seqcycle THEN ' CYCLE' ELSE '' END
                || CASE WHEN c.relpersistence = 'u' THEN ' UNLOGGED' ELSE '' END
                || COALESCE((SELECT CASE WHEN d.deptype = 'i' THEN ' IDENTITY OF ' ELSE ' OWNED BY ' END
                      || d.refobjid::regclass::text || '.' || quote_ident(a.attname)
                    FROM pg_depend d JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.refclassid = 'pg_class'::regclass
                      AND d.deptype IN ('a', 'i') LIMIT 1), '')
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_sequence s ON s.seqrelid = c.oid
           WHERE c.relkind = 'S' AND {filter} AND {not_member_class}
         UNION ALL
         SELECT 'type', {type_name},
                CASE t.typtype
                  WHEN 'e' THEN (SELECT string_agg(e.enumlabel, ', ' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid)
                  WHEN 'd' THEN 'domain ' || format_type(t.typbasetype, t.typtypmod)
                    || CASE WHEN t.typcollation <> (SELECT b.typcollation FROM pg_type b WHERE b.oid = t.typbasetype)
                         THEN ' COLLATE ' || t.typcollation::regcollation::text ELSE '' END
                    || CASE WHEN t.typnotnull THEN ' NOT NULL' ELSE '' END || COALESCE(' DEFAULT ' || t.typdefault, '')
                  WHEN 'c' THEN 'composite'
                  WHEN 'r' THEN (SELECT 'range of ' || format_type(r.rngsubtype, NULL)
                      || CASE WHEN r.rngcollation <> 0 THEN ' collation ' || r.rngcollation::regcollation::text ELSE '' END
                      || ' opclass ' || (SELECT o.opcname FROM pg_opclass o WHERE o.oid = r.rngsubopc)
                      || ' canonical ' || r.rngcanonical::text || ' subdiff ' || r.rngsubdiff::text
                      || ' multirange ' || format_type(r.rngmultitypid, NULL)
                    FROM pg_range r WHERE r.rngtypid = t.oid)
                  WHEN 'm' THEN 'multirange'
                  ELSE 'base input ' || t.typinput::text || ' output ' || t.typoutput::text || ' length ' || t.typlen
                END
           FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
           WHERE {user_type} AND {filter} AND {not_member_type}
         UNION ALL
         SELECT 'collation', {collation},
                (SELECT string_agg(j.key || '=' || j.value, ' ' ORDER BY j.key)
                   FROM jsonb_each_text(to_jsonb(co) - 'oid' - 'collname' - 'collnamespace' - 'collowner' - 'collversion') j)
           FROM pg_collation co JOIN pg_namespace n ON n.oid = co.collnamespace
           WHERE {filter} AND NOT {collation_member}
         UNION ALL
         SELECT 'statistics', {statistics}, pg_get_statisticsobjdef(s.oid)
                || CASE WHEN COALESCE(s.stxstattarget, -1) >= 0 THEN ' STATISTICS ' || s.stxstattarget ELSE '' END
           FROM pg_statistic_ext s JOIN pg_namespace n ON n.oid = s.stxnamespace
           WHERE {filter}
         UNION ALL
         SELECT 'policy', {policy},
                p.permissive || ' FOR ' || p.cmd || ' TO ' || array_to_string(p.roles, ', ')
                || COALESCE(' USING (' || p.qual || ')', '') || COALESCE(' WITH CHECK (' || p.with_check || ')', '')
           FROM pg_policies p WHERE {policy_filter}
         UNION ALL
         SELECT 'comment', pg_describe_object(d.classoid, d.objoid, d.objsubid), d.description
           FROM pg_description d
           WHERE d.objoid >= 16384
             AND NOT EXISTS (SELECT 1 FROM pg_depend m WHERE m.classid = d.classoid AND m.objid = d.objoid AND m.deptype = 'e')
             AND COALESCE({comment_filter}, true)
         UNION ALL
         SELECT 'owner', o.label, pg_get_userbyid(o.owner) FROM objs o WHERE pg_get_userbyid(o.owner) <> current_user
         UNION ALL
         SELECT 'grant', o.label || ' to ' || {grantee} || ': ' || g.privilege_type
                || CASE WHEN g.is_grantable THEN ' with grant option' ELSE '' END
                || CASE WHEN g.grantor <> o.owner THEN ' granted by ' || pg_get_userbyid(g.grantor) ELSE '' END, ''
           FROM objs o, aclexplode(o.acl) g
           WHERE o.acl IS NOT NULL
             AND NOT aclcontains(acldefault(o.kind::\"char\", o.owner), makeaclitem(g.grantee, g.grantor, g.privilege_type, g.is_grantable))
         UNION ALL
         SELECT 'revoke', o.label || ' from ' || {grantee} || ': ' || g.privilege_type, ''
           FROM objs o, aclexplode(acldefault(o.kind::\"char\", o.owner)) g
           WHERE o.acl IS NOT NULL
             AND NOT aclcontains(o.acl, makeaclitem(g.grantee, g.grantor, g.privilege_type, g.is_grantable))
         UNION ALL
         SELECT 'grant', 'column ' || {column} || ' to ' || {column_grantee} || ': ' || g.privilege_type
                || CASE WHEN g.is_grantable THEN ' with grant option' ELSE '' END, ''
           FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace,
                aclexplode(a.attacl) g
           WHERE a.attacl IS NOT NULL AND a.attnum > 0 AND NOT a.attisdropped AND {filter}
         UNION ALL
         SELECT 'grant', 'default privileges of ' || CASE WHEN pg_get_userbyid(d.defaclrole) = current_user THEN 'the migrating role'
                  ELSE pg_get_userbyid(d.defaclrole) END
                || COALESCE(' in schema ' || (SELECT n.nspname FROM pg_namespace n WHERE n.oid = d.defaclnamespace), '')
                || ' on ' || CASE d.defaclobjtype WHEN 'r' THEN 'tables' WHEN 'S' THEN 'sequences' WHEN 'f' THEN 'functions'
                  WHEN 'T' THEN 'types' ELSE 'schemas' END
                || ' to ' || CASE WHEN g.grantee = 0 THEN 'PUBLIC' WHEN g.grantee = d.defaclrole THEN 'owner'
                  ELSE pg_get_userbyid(g.grantee) END || ': ' || g.privilege_type
                || CASE WHEN g.is_grantable THEN ' with grant option' ELSE '' END, ''
           FROM pg_default_acl d, aclexplode(d.defaclacl) g
           WHERE d.defaclnamespace = 0 OR EXISTS (SELECT 1 FROM pg_namespace n WHERE n.oid = d.defaclnamespace AND {filter})
         UNION ALL
         SELECT 'schema', n.nspname, '' FROM pg_namespace n
           WHERE {filter} AND n.nspname <> 'public' AND n.nspname <> current_schema() AND NOT {ns_member}
         UNION ALL
         SELECT 'extension', e.extname, n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
           WHERE e.extname <> 'plpgsql'
         UNION ALL
         SELECT 'publication', p.pubname,
                concat_ws(' ', CASE WHEN p.puballtables THEN 'all tables' END, CASE WHEN p.pubinsert THEN 'insert' END,
                  CASE WHEN p.pubupdate THEN 'update' END, CASE WHEN p.pubdelete THEN 'delete' END,
                  CASE WHEN p.pubtruncate THEN 'truncate' END, CASE WHEN p.pubviaroot THEN 'via root' END,
                  (SELECT 'tables ' || string_agg(r.prrelid::regclass::text, ', ' ORDER BY r.prrelid::regclass::text)
                     FROM pg_publication_rel r WHERE r.prpubid = p.oid))
           FROM pg_publication p
         UNION ALL
         SELECT 'event trigger', e.evtname, e.evtevent || ' ' || e.evtfoid::regproc::text || ' ' || e.evtenabled::text
                || COALESCE(' tags ' || array_to_string(e.evttags, ', '), '')
           FROM pg_event_trigger e",
        reloptions = sorted("c.reloptions"),
        toast_options = sorted("x.reloptions"),
        attoptions = sorted("a.attoptions"),
        index = q("n", "i.relname"),
        index_member = member("pg_class", "i.oid"),
        ns_member = member("pg_namespace", "n.oid"),
        collation = q("n", "co.collname"),
        collation_member = member("pg_collation", "co.oid"),
        statistics = q("n", "s.stxname"),
        policy = "(CASE WHEN p.schemaname = current_schema() THEN '' ELSE p.schemaname || '.' END || p.tablename || '.' || p.policyname)",
        policy_filter = on("p.schemaname"),
        comment_filter = on("(pg_identify_object(d.classoid, d.objoid, 0)).schema"),
        grantee = "CASE WHEN g.grantee = 0 THEN 'PUBLIC' WHEN g.grantee = o.owner THEN 'owner' ELSE pg_get_userbyid(g.grantee) END",
        column_grantee = "CASE WHEN g.grantee = 0 THEN 'PUBLIC' WHEN g.grantee = c.relowner THEN 'owner' ELSE pg_get_userbyid(g.grantee) END",
    )
}

/// The differences from `a` to `b`, one line each. Definitions are compared
/// as PostgreSQL compares them: the catalogs' deparsed text, a function's
/// body modulo whitespace and comments, and a view's timestamps taken from
/// the clock (`'now'::timestamp` is frozen when the view is made) left out.
/// Where two definitions really differ, the first line that differs is
/// shown.
pub fn diff(a: &PgSnapshot, b: &PgSnapshot, a_label: &str, b_label: &str) -> Vec<String> {
    let mut out = Vec::new();
    for ((kind, name), def) in &a.objects {
        match b.objects.get(&(kind.clone(), name.clone())) {
            None => out.push(format!("{kind} `{name}`: in {a_label}, not in {b_label}")),
            Some(other) if other != def && !same_definition(kind, def, other) => {
                out.push(format!("{kind} `{name}`: {}", first_difference(def, other, a_label, b_label)))
            }
            Some(_) => {}
        }
    }
    for (kind, name) in b.objects.keys() {
        if !a.objects.contains_key(&(kind.clone(), name.clone())) {
            out.push(format!("{kind} `{name}`: in {b_label}, not in {a_label}"));
        }
    }
    out
}

/// Whether two definitions of an object of `kind` that differ as text are
/// the same to PostgreSQL.
fn same_definition(kind: &str, a: &str, b: &str) -> bool {
    match kind {
        "function" => without_trivia(a) == without_trivia(b),
        "view" => without_clock(a) == without_clock(b),
        _ => false,
    }
}

/// `sql` with its comments left out and each run of whitespace made one
/// space (none next to punctuation); quoted text kept as it is.
fn without_trivia(sql: &str) -> String {
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut space = false;
    let mut i = 0;
    let punct = |c: Option<char>| c.is_none_or(|c| "(),;=+-*/<>[]:.".contains(c));
    while i < bytes.len() {
        let rest = &sql[i..];
        if rest.starts_with("--") {
            i += rest.find('\n').unwrap_or(rest.len());
            space = true;
        } else if let Some(comment) = rest.strip_prefix("/*") {
            i += comment.find("*/").map_or(rest.len(), |n| n + 4);
            space = true;
        } else if bytes[i].is_ascii_whitespace() {
            i += 1;
            space = true;
        } else {
            let len = if bytes[i] == b'\'' || bytes[i] == b'"' {
                rest[1..].find(rest.chars().next().unwrap_or('\'')).map_or(rest.len(), |n| n + 2)
            } else {
                rest.chars().next().map_or(1, char::len_utf8)
            };
            let next = rest.chars().next();
            if space && !out.is_empty() && !punct(out.chars().last()) && !punct(next) {
                out.push(' ');
            }
            space = false;
            out.push_str(&rest[..len]);
            i += len;
        }
    }
    out
}

/// A view's definition with the timestamps of today and yesterday (what
/// `'now'`, `'today'` and the like were frozen to when the view was made
/// during this check) replaced by `'now'`.
fn without_clock(def: &str) -> String {
    let days: Vec<String> = [0u64, 86_400]
        .iter()
        .filter_map(|back| {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
            Some(civil_date((now - back) / 86_400))
        })
        .collect();
    let mut out = String::with_capacity(def.len());
    let mut rest = def;
    while let Some(at) = rest.find('\'') {
        out.push_str(&rest[..at]);
        let literal = &rest[at..];
        let end = literal[1..].find('\'').map_or(literal.len(), |n| n + 2);
        let text = &literal[..end];
        if days.iter().any(|d| text[1..].starts_with(d.as_str())) {
            out.push_str("'now'");
        } else {
            out.push_str(text);
        }
        rest = &literal[end..];
    }
    out.push_str(rest);
    out
}

/// `YYYY-MM-DD` of the day `days` after 1970-01-01.
fn civil_date(days: u64) -> String {
    let (year, month, day) = crate::model::civil_date(days as i64);
    format!("{year:04}-{month:02}-{day:02}")
}

/// How two definitions differ: whole when short, else the first line that
/// differs (after the lines they share).
fn first_difference(a: &str, b: &str, a_label: &str, b_label: &str) -> String {
    let (la, lb): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    if la.len() <= 1 && lb.len() <= 1 {
        let shown = |def: &str| if def.is_empty() { "nothing".to_owned() } else { format!("`{}`", short(def)) };
        return format!("{} in {a_label}, {} in {b_label}", shown(a), shown(b));
    }
    let n = la.iter().zip(&lb).take_while(|(x, y)| x.trim_end() == y.trim_end()).count();
    let line = |l: &[&str]| l.get(n).map_or("(nothing)".to_owned(), |t| format!("`{}`", short(t)));
    format!("they differ from line {}: {} in {a_label}, {} in {b_label}", n + 1, line(&la), line(&lb))
}

fn short(def: &str) -> String {
    let one_line = def.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > 120 { one_line.chars().take(117).collect::<String>() + "…" } else { one_line }
}

/// A scratch database, dropped (with FORCE) when this goes out of scope.
struct ScratchDb {
    admin: PgUrl,
    name: String,
}

/// The scratch databases this process has now, for [`drop_scratch_databases`].
static LIVE: std::sync::Mutex<Vec<(PgUrl, String)>> = std::sync::Mutex::new(Vec::new());

impl ScratchDb {
    fn create(admin: &PgUrl) -> Result<(ScratchDb, Client), PgError> {
        // Unique among this process's databases and, with the process id and
        // the clock, among others on the same server.
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let name = format!("migcheck_scratch_{}_{nanos}_{n}", std::process::id());
        let mut admin_client = Client::connect(admin)?;
        if n == 0 {
            drop_left_behind(&mut admin_client);
        }
        admin_client.query(&format!("CREATE DATABASE \"{name}\""))?;
        LIVE.lock().unwrap_or_else(|e| e.into_inner()).push((admin.clone(), name.clone()));
        let db = ScratchDb { admin: admin.clone(), name };
        let client = Client::connect(&db.admin.with_database(&db.name))?;
        Ok((db, client))
    }
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        if let Ok(mut c) = Client::connect(&self.admin) {
            let _ = c.query(&format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name));
        }
        LIVE.lock().unwrap_or_else(|e| e.into_inner()).retain(|(_, name)| name != &self.name);
    }
}

/// Drops the scratch databases this process has (a command-line tool calls
/// it when SIGTERM or Ctrl-C ends it, where no destructor runs).
pub fn drop_scratch_databases() {
    let live = std::mem::take(&mut *LIVE.lock().unwrap_or_else(|e| e.into_inner()));
    for (admin, name) in live {
        if let Ok(mut c) = Client::connect(&admin) {
            let _ = c.query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
        }
    }
}

/// Drops the scratch databases a process of this machine that is gone left
/// behind (SIGKILL gives it no chance to): those named after a process id
/// that no longer runs here, and with no connection (`DROP DATABASE`
/// without `FORCE` refuses one in use, by a process of another machine too).
fn drop_left_behind(admin: &mut Client) {
    let Ok(rows) = admin.query("SELECT datname FROM pg_database WHERE datname LIKE 'migcheck\\_scratch\\_%'") else {
        return;
    };
    for name in rows.into_iter().filter_map(|mut r| r.remove(0)) {
        let pid = name.trim_start_matches("migcheck_scratch_").split('_').next().and_then(|p| p.parse::<u32>().ok());
        let gone = pid.is_some_and(|pid| {
            pid != std::process::id()
                && std::path::Path::new("/proc/self").exists()
                && !std::path::Path::new(&format!("/proc/{pid}")).exists()
        });
        if gone {
            let _ = admin.query(&format!("DROP DATABASE IF EXISTS \"{name}\""));
        }
    }
}

impl PgEngine {
    /// The session settings, again on a new connection.
    fn session(&mut self) -> Result<(), Diagnostic> {
        configure(&mut self.client, self.timeout)?;
        let _ = self.client.query(&format!("SET temp_file_limit = '{}kB'", (self.size_limit / 1024).max(1)));
        Ok(())
    }

    /// `scratch-limit` when the database outgrew its bound.
    fn check_size(&mut self, script: &Script) -> Result<(), Diagnostic> {
        let size = self
            .client
            .query("SELECT pg_database_size(current_database())")
            .ok()
            .and_then(|r| r.first()?.first()?.as_deref()?.parse::<u64>().ok());
        match size {
            Some(size) if size > self.size_limit => Err(too_big(script, self.size_limit)),
            _ => Ok(()),
        }
    }
}

/// The `scratch-limit` error for `script`.
fn too_big(script: &Script, limit: u64) -> Diagnostic {
    let limit = crate::config::show_size(limit);
    Diagnostic::error(
        Kind::ScratchLimit,
        format!("`{}` grows the scratch database past its size limit ({limit})", script.file.file_name()),
    )
    .at(Location::file(&script.file.display))
    .note("the build-time check bounds the scratch database, so that a runaway migration cannot fill the server")
    .help(format!(
        "raise the limit if the migration really needs it (MIGCHECK_SCRATCH_LIMIT=4GiB, `Build::scratch_limit`, or the lock's `scratch-limit` line); it is {limit} now"
    ))
}

/// A scratch database on a PostgreSQL server, dropped when this goes out of
/// scope (even after a failure).
pub struct PgEngine {
    admin: PgUrl,
    timeout: Duration,
    client: Client,
    /// Keep the database at the newest sealed migration on the server as a
    /// template for the next run (the build script does).
    templates: bool,
    /// Measure each up statement's locks and rewrites.
    trace: bool,
    /// The most the scratch database may grow to, in bytes.
    size_limit: u64,
    /// Declared last: dropped after the client's connection closed.
    db: ScratchDb,
}

/// Templates kept on a server at most: the oldest go first.
const MAX_TEMPLATES: usize = 4;

impl PgEngine {
    /// Creates a scratch database on the server `url` names (an account that
    /// may create databases), where no statement may run longer than `timeout`.
    pub fn create(url: &str, timeout: Duration) -> Result<PgEngine, Diagnostic> {
        let admin = PgUrl::parse(url).map_err(|e| io(format!("MIGCHECK_SCRATCH_URL: {e}")))?;
        PgEngine::on(admin, timeout)
    }

    fn on(admin: PgUrl, timeout: Duration) -> Result<PgEngine, Diagnostic> {
        let (db, mut client) = ScratchDb::create(&admin)
            .map_err(|e| io(format!("cannot create a scratch database on the PostgreSQL server: {e}")))?;
        configure(&mut client, timeout)?;
        Ok(PgEngine {
            admin,
            timeout,
            client,
            templates: false,
            trace: true,
            size_limit: crate::config::DEFAULT_SIZE_LIMIT,
            db,
        })
    }

    /// Keeps (and starts from) a template of the database at the newest
    /// sealed migration on the server: repeat checks then run only the
    /// migrations after it, as the SQLite build cache does.
    pub fn with_templates(mut self, on: bool) -> PgEngine {
        self.templates = on;
        self
    }

    /// Bounds the scratch database: a migration that grows it past `bytes`
    /// fails with `scratch-limit` (its temporary files too, where the
    /// account may set `temp_file_limit`).
    pub fn with_size_limit(mut self, bytes: u64) -> PgEngine {
        self.size_limit = bytes;
        let _ = self.client.query(&format!("SET temp_file_limit = '{}kB'", (bytes / 1024).max(1)));
        self
    }

    /// Measures the deployment hazards of each up statement (on by default).
    pub fn with_tracing(mut self, on: bool) -> PgEngine {
        self.trace = on;
        self
    }

    /// The template's name for the database after `migrations[..sealed]`
    /// with rows that depend on `salt`, on this server.
    fn template_name(&mut self, migrations: &[Migration], sealed: usize, salt: &Digest) -> Option<String> {
        let version = self.client.query("SHOW server_version_num").ok()?.first()?.first()?.clone()?;
        let text = format!(
            "migcheck pg template\n{}\n{version}\n{}\n{sealed}\n{}",
            env!("CARGO_PKG_VERSION"),
            crate::checksum::to_hex(&migrations[sealed - 1].chain),
            crate::checksum::to_hex(salt)
        );
        Some(format!("migcheck_tpl_{}", &crate::checksum::to_hex(&crate::checksum::checksum(text.as_bytes()))[..24]))
    }

    /// Replaces the scratch database with a copy of `template` (or, when
    /// that fails, an empty one); whether the copy was made.
    fn recreate(&mut self, template: Option<&str>) -> Result<bool, PgError> {
        let mut admin = Client::connect(&self.admin)?;
        // The scratch database must have no connection while it is dropped.
        self.client = Client::connect(&self.admin)?;
        admin.query(&format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.db.name))?;
        let copied = match template {
            Some(t) => admin.query(&format!("CREATE DATABASE \"{}\" TEMPLATE \"{t}\"", self.db.name)).is_ok(),
            None => false,
        };
        if !copied {
            admin.query(&format!("CREATE DATABASE \"{}\"", self.db.name))?;
        }
        self.client = Client::connect(&self.admin.with_database(&self.db.name))?;
        Ok(copied)
    }

    /// The schema as the catalogs describe it.
    pub fn snapshot(&mut self) -> Result<PgSnapshot, Diagnostic> {
        snapshot(&mut self.client).map_err(|e| io(format!("cannot read the scratch database's schema: {e}")))
    }
}

impl Engine for PgEngine {
    type Schema = PgSnapshot;

    fn describe(&self) -> &'static str {
        "a scratch PostgreSQL database"
    }

    fn run(&mut self, script: &Script, _warnings: &mut Vec<Diagnostic>) -> Result<(), Diagnostic> {
        run_script(&mut self.client, script)
    }

    fn run_measured(&mut self, script: &Script, warnings: &mut Vec<Diagnostic>) -> Result<(), Diagnostic> {
        if self.trace {
            trace::run(&mut self.client, script, warnings, |sent_at, sent, e| located(script, sent_at, sent, e))?;
        } else {
            self.run(script, warnings)?;
        }
        self.check_size(script)
    }

    fn explain(&mut self, script: &Script) -> Result<Vec<StatementTrace>, Diagnostic> {
        let mut traces = Vec::new();
        trace::run_traced(&mut self.client, script, &mut Vec::new(), Some(&mut traces), |sent_at, sent, e| {
            located(script, sent_at, sent, e)
        })?;
        Ok(traces)
    }

    fn measures(&self) -> &'static [&'static str] {
        if self.trace { trace::CODES } else { &[] }
    }

    fn schema(&mut self) -> Result<PgSnapshot, Diagnostic> {
        self.snapshot()
    }

    fn differences(
        &mut self,
        a: &PgSnapshot,
        b: &PgSnapshot,
        a_label: &str,
        b_label: &str,
    ) -> Result<Vec<String>, Diagnostic> {
        Ok(diff(a, b, a_label, b_label))
    }

    fn fresh(&self) -> Result<PgEngine, Diagnostic> {
        Ok(PgEngine { templates: self.templates, trace: self.trace, ..PgEngine::on(self.admin.clone(), self.timeout)? }
            .with_size_limit(self.size_limit))
    }

    fn resume(&mut self, migrations: &[Migration], sealed: usize, salt: &Digest) -> bool {
        if !self.templates {
            return false;
        }
        let Some(template) = self.template_name(migrations, sealed, salt) else { return false };
        let exists = self
            .client
            .query(&format!("SELECT 1 FROM pg_database WHERE datname = '{template}'"))
            .is_ok_and(|rows| !rows.is_empty());
        // A template dropped by someone else, or being copied by another
        // build: start cold, on an empty database.
        exists
            && matches!(self.recreate(Some(&template)), Ok(true))
            && configure(&mut self.client, self.timeout).is_ok()
    }

    /// Copies the database as the template for the next run (a failure only
    /// costs the next run its speed), and drops the oldest templates beyond
    /// [`MAX_TEMPLATES`].
    fn checkpoint(&mut self, migrations: &[Migration], sealed: usize, salt: &Digest) {
        if !self.templates {
            return;
        }
        let Some(template) = self.template_name(migrations, sealed, salt) else { return };
        let made = (|| -> Result<(), PgError> {
            // A database with a connection cannot be copied: step out of it.
            self.client = Client::connect(&self.admin)?;
            let result = self.client.query(&format!("CREATE DATABASE \"{template}\" TEMPLATE \"{}\"", self.db.name));
            self.client = Client::connect(&self.admin.with_database(&self.db.name))?;
            result?;
            let mut admin = Client::connect(&self.admin)?;
            let old: Vec<String> = admin
                .query("SELECT datname FROM pg_database WHERE datname LIKE 'migcheck\\_tpl\\_%' ORDER BY oid DESC")?
                .into_iter()
                .filter_map(|mut r| r.remove(0))
                .skip(MAX_TEMPLATES)
                .collect();
            for name in old {
                let _ = admin.query(&format!("DROP DATABASE IF EXISTS \"{name}\""));
            }
            Ok(())
        })();
        let _ = made;
        let _ = self.session();
    }

    /// A database on the scratch server named after `dir`
    /// (`migcheck_head_<hash>`), copied from the scratch database; the one
    /// an earlier run kept under that name is dropped first.
    fn prepare(&mut self, sql: &str) -> Result<(), String> {
        match self.client.describe(sql) {
            Ok(_) => Ok(()),
            Err(PgError::Server(e)) => Err(e.message),
            Err(e) => Err(e.to_string()),
        }
    }

    fn keep_head(&mut self, dir: &std::path::Path) -> Result<String, Diagnostic> {
        let key = crate::checksum::checksum(format!("migcheck pg head\n{}", dir.display()).as_bytes());
        let name = format!("migcheck_head_{}", &crate::checksum::to_hex(&key)[..24]);
        let made = (|| -> Result<(), PgError> {
            // A database with a connection cannot be copied: step out of it.
            self.client = Client::connect(&self.admin)?;
            let copied = self
                .client
                .query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .and_then(|_| self.client.query(&format!("CREATE DATABASE \"{name}\" TEMPLATE \"{}\"", self.db.name)));
            self.client = Client::connect(&self.admin.with_database(&self.db.name))?;
            copied.map(drop)
        })();
        let _ = self.session();
        made.map_err(|e| io(format!("cannot keep the migrated database as {name} on the scratch server: {e}")))?;
        Ok(self.admin.with_database(&name).to_url())
    }

    fn tables(&mut self, names: Option<&BTreeSet<String>>) -> Result<Vec<String>, Diagnostic> {
        rows::tables(&mut self.client, names).map_err(|e| io(format!("cannot list the scratch database's tables: {e}")))
    }

    fn children(&mut self, table: &str) -> Result<Vec<String>, Diagnostic> {
        rows::children(&mut self.client, table)
            .map_err(|e| io(format!("cannot read the scratch database's foreign keys: {e}")))
    }

    fn seed(&mut self, tables: &[String]) -> Result<Vec<(String, String)>, Diagnostic> {
        rows::seed(&mut self.client, tables).map_err(|e| io(format!("cannot write synthetic rows: {e}")))
    }

    fn columns(&mut self, table: &str) -> Result<Vec<ColumnShape>, Diagnostic> {
        rows::columns_shape(&mut self.client, table)
            .map_err(|e| io(format!("cannot read the columns of `{table}`: {e}")))
    }

    fn baseline_sql(&mut self, rows: bool) -> Result<String, Diagnostic> {
        rows::baseline_sql(&mut self.client, rows).map_err(|e| io(format!("cannot read the scratch database: {e}")))
    }

    fn contents(&mut self, table: &str) -> Result<Contents, Diagnostic> {
        rows::contents(&mut self.client, table).map_err(|e| io(format!("cannot read the rows of `{table}`: {e}")))
    }

    fn model(&mut self) -> Result<crate::schema::model::Model, Diagnostic> {
        rows::model(&mut self.client, "").map_err(|e| io(format!("cannot read the scratch database's schema: {e}")))
    }

    fn clear(&mut self, keep: &BTreeSet<String>) -> Result<(), Diagnostic> {
        rows::clear(&mut self.client, keep)
            .map_err(|e| io(format!("cannot delete the rows of the scratch database: {e}")))
    }
}

/// The session settings every scratch connection gets.
fn configure(client: &mut Client, timeout: Duration) -> Result<(), Diagnostic> {
    client
        .query(&format!("SET statement_timeout = {}", timeout.as_millis()))
        .map(|_| ())
        .map_err(|e| io(format!("cannot configure the scratch database: {e}")))
}

/// The schema of a live database, without migcheck's history table.
/// The schema of a live database as a [`crate::schema::model::Model`], its
/// history table left out.
pub fn live_model(url: &str, history_table: &str) -> Result<crate::schema::model::Model, PgError> {
    let url = PgUrl::parse(url).map_err(PgError::Url)?;
    let mut client = Client::connect(&url)?;
    rows::model(&mut client, history_table)
}

/// The objects of one schema of a live database (a tenant's), read with the
/// schema as `search_path` so that definitions name its objects as the same
/// migrations on a scratch database's `public` do; its history table left out.
pub fn live_snapshot_of_schema(url: &str, schema: &str, history_table: &str) -> Result<PgSnapshot, PgError> {
    let url = PgUrl::parse(url).map_err(PgError::Url)?;
    let mut client = Client::connect(&url)?;
    client.query(&format!("SET search_path TO {}", rows::ident(schema)))?;
    let mut s = snapshot_where(&mut client, &format!("n.nspname = {}", rows::literal(schema)))?;
    without_history(&mut s, history_table);
    Ok(s)
}

/// Leaves the history table (its columns, constraints and key) out of a
/// live database's snapshot.
fn without_history(s: &mut PgSnapshot, history_table: &str) {
    let prefix = format!("{history_table}.");
    let (table, column) = (format!("table {history_table}"), format!("column {history_table}."));
    s.objects.retain(|(kind, name), _| {
        !(name == history_table
            || name.starts_with(&prefix)
            || (kind == "index" && name == &format!("{history_table}_pkey"))
            || name == &table
            || name.starts_with(&format!("{table} "))
            || name.starts_with(&column)
            || name.ends_with(&format!(" of {table}")))
    });
}

pub fn live_snapshot(url: &str, history_table: &str) -> Result<PgSnapshot, PgError> {
    let url = PgUrl::parse(url).map_err(PgError::Url)?;
    let mut client = Client::connect(&url)?;
    let mut s = snapshot(&mut client)?;
    without_history(&mut s, history_table);
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_bodies_compare_without_whitespace_and_comments() {
        let a = "CREATE OR REPLACE FUNCTION public.f()\n RETURNS integer\n LANGUAGE plpgsql\nAS $function$\nBEGIN\n  RETURN 1; -- one\nEND;\n$function$\n";
        let b = "CREATE OR REPLACE FUNCTION public.f()\n RETURNS integer\n LANGUAGE plpgsql\nAS $function$\n  begin_x\nEND;\n$function$\n";
        let c = "CREATE OR REPLACE FUNCTION public.f()\n RETURNS integer\n LANGUAGE plpgsql\nAS $function$ BEGIN\n\t/* note */ RETURN 1 ;\nEND;$function$\n";
        assert!(same_definition("function", a, c));
        assert!(!same_definition("function", a, b));
        // Inside a string, whitespace is the value.
        assert!(!same_definition("function", "SELECT 'a  b'", "SELECT 'a b'"));
        assert!(!same_definition("table", "x", "x "));
        let shown = first_difference(a, b, "before", "after");
        assert_eq!(shown, "they differ from line 5: `BEGIN` in before, `begin_x` in after");
    }

    #[test]
    fn views_leave_out_the_clock() {
        let today =
            civil_date(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() / 86_400);
        let a = format!(" SELECT t.x\n   FROM t\n  WHERE t.at > '{today} 10:00:01.5'::timestamp without time zone;");
        let b = format!(" SELECT t.x\n   FROM t\n  WHERE t.at > '{today} 10:00:04'::timestamp without time zone;");
        assert!(same_definition("view", &a, &b));
        let old = " SELECT t.x\n   FROM t\n  WHERE t.at > '2001-01-01 00:00:00'::timestamp without time zone;";
        assert!(!same_definition("view", &a, old));
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(19_723), "2024-01-01");
    }
}
