//! A realistic migration history for the benchmarks: new tables with
//! indexes, foreign keys, triggers and seed rows, `ALTER TABLE ADD COLUMN`,
//! and one in five migrations reversible.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

/// Writes `n` migrations to `dir`.
pub fn generate(dir: &Path, n: usize) {
    let mut tables: Vec<(String, usize)> = Vec::new();
    for i in 1..=n {
        let version = 20260000000000_i64 + i as i64;
        let (mut up, mut down) = (String::new(), None);
        match i % 10 {
            1 | 6 if true => {
                let t = format!("t{i}");
                let parent = tables.last().map(|(p, _)| p.clone());
                let _ = writeln!(
                    up,
                    "CREATE TABLE {t} (\n    id INTEGER PRIMARY KEY,\n    name TEXT NOT NULL,\n    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,"
                );
                if let Some(p) = &parent {
                    let _ = writeln!(up, "    {p}_id INTEGER REFERENCES {p}(id) ON DELETE CASCADE,");
                }
                let _ = writeln!(up, "    note TEXT\n);");
                let _ = writeln!(up, "CREATE INDEX {t}_name ON {t} (name);");
                for r in 0..3 {
                    let _ = writeln!(up, "INSERT INTO {t} (name) VALUES ('seed {r}; of {t}');");
                }
                if i % 20 == 1 {
                    down = Some(format!("DROP TABLE {t};\n"));
                }
                tables.push((t, 0));
            }
            2 | 4 | 7 | 9 => {
                let k = (i * 7) % tables.len();
                let (t, cols) = &mut tables[k];
                *cols += 1;
                let c = format!("extra_{i}");
                let _ = writeln!(up, "ALTER TABLE {t} ADD COLUMN {c} INTEGER NOT NULL DEFAULT 0;");
                if i % 3 == 0 {
                    down = Some(format!("ALTER TABLE {t} DROP COLUMN {c};\n"));
                }
            }
            3 | 8 => {
                let k = (i * 13) % tables.len();
                let t = &tables[k].0;
                let _ = writeln!(up, "CREATE INDEX {t}_created_{i} ON {t} (created_at, id);");
                down = Some(format!("DROP INDEX {t}_created_{i};\n"));
            }
            5 => {
                let k = (i * 17) % tables.len();
                let t = &tables[k].0;
                let _ = writeln!(
                    up,
                    "CREATE TRIGGER {t}_touch_{i} AFTER UPDATE OF name ON {t} BEGIN\n    UPDATE {t} SET note = 'renamed; ' || NEW.name WHERE id = NEW.id;\nEND;"
                );
            }
            _ => {
                let k = (i * 19) % tables.len();
                let t = &tables[k].0;
                let _ = writeln!(
                    up,
                    "-- seed data\nINSERT INTO {t} (name, note) VALUES ('x{i}', 'it''s {i}');\nUPDATE {t} SET note = 'n' WHERE id = 1;"
                );
            }
        }
        match down {
            Some(down) => {
                fs::write(dir.join(format!("{version}_m{i}.up.sql")), up).unwrap();
                fs::write(dir.join(format!("{version}_m{i}.down.sql")), down).unwrap();
            }
            None => fs::write(dir.join(format!("{version}_m{i}.sql")), up).unwrap(),
        }
    }
}

/// Writes `n` migrations to `dir` for a view-heavy history: each new table
/// gets views over it and the tables before it (views on views too), and
/// the migrations between add columns and recreate a view, as reporting
/// schemas do. One in five is reversible.
#[allow(dead_code)]
pub fn generate_views(dir: &Path, n: usize) {
    let mut tables: Vec<String> = Vec::new();
    let mut views: Vec<String> = Vec::new();
    // The newest summary view: each new one reads the one before (a stack).
    let mut summary: Option<String> = None;
    for i in 1..=n {
        let version = 20260000000000_i64 + i as i64;
        let (mut up, mut down) = (String::new(), None);
        if i % 3 == 2 && tables.len() >= 2 {
            // A report view replaced: dropped and created again over the
            // newest summary.
            let v = format!("report_{}", i % 7);
            let w = summary.clone().unwrap_or_else(|| tables[0].clone());
            let _ =
                writeln!(up, "DROP VIEW IF EXISTS {v};\nCREATE VIEW {v} AS SELECT id, name, {i} AS version FROM {w};");
        } else if i % 3 == 1 || tables.len() < 2 {
            let t = format!("t{i}");
            let _ = writeln!(
                up,
                "CREATE TABLE {t} (id INTEGER PRIMARY KEY, name TEXT NOT NULL, amount INTEGER NOT NULL DEFAULT 0);"
            );
            let _ = writeln!(up, "INSERT INTO {t} (name, amount) VALUES ('a', 1), ('b', 2);");
            let v = format!("v{i}");
            match tables.last() {
                Some(p) => {
                    let _ = writeln!(
                        up,
                        "CREATE VIEW {v} AS SELECT {t}.id, {t}.name, {p}.amount AS parent_amount FROM {t} LEFT JOIN {p} ON {p}.id = {t}.id;"
                    );
                }
                None => {
                    let _ = writeln!(up, "CREATE VIEW {v} AS SELECT id, name FROM {t};");
                }
            }
            // A summary stacked on the one before.
            match &summary {
                Some(w) => {
                    let _ = writeln!(
                        up,
                        "CREATE VIEW {v}_total AS SELECT {v}.id, {v}.name, {w}.n + 1 AS n FROM {v} LEFT JOIN {w} ON {w}.id = {v}.id;"
                    );
                }
                None => {
                    let _ = writeln!(up, "CREATE VIEW {v}_total AS SELECT id, name, 1 AS n FROM {v};");
                }
            }
            views.push(format!("{v}_total"));
            summary = Some(format!("{v}_total"));
            if i % 5 == 1 && i > 1 {
                down = Some(format!("DROP VIEW {v}_total;\nDROP VIEW {v};\nDROP TABLE {t};\n"));
            }
            tables.push(t);
            views.push(v);
        } else {
            let t = &tables[(i * 7) % tables.len()];
            let c = format!("extra_{i}");
            let _ = writeln!(up, "ALTER TABLE {t} ADD COLUMN {c} INTEGER NOT NULL DEFAULT 0;");
            let _ = writeln!(up, "UPDATE {t} SET {c} = amount;");
            if i % 5 == 0 {
                down = Some(format!("ALTER TABLE {t} DROP COLUMN {c};\n"));
            }
        }
        match down {
            Some(down) => {
                fs::write(dir.join(format!("{version}_m{i}.up.sql")), up).unwrap();
                fs::write(dir.join(format!("{version}_m{i}.down.sql")), down).unwrap();
            }
            None => fs::write(dir.join(format!("{version}_m{i}.sql")), up).unwrap(),
        }
    }
}
