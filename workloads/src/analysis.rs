//! SQL analysis for the index advisor: parse a statement template (PostgreSQL or MySQL
//! dialect; placeholders `$1`, `?` or our `:name`) and extract the tables it touches, the
//! columns it filters by equality and by range, its join columns, its ORDER BY and GROUP BY
//! columns, the columns it writes, and whether it reads or writes. Never panics: anything it
//! cannot parse is an error value.

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use knobs::Engine;
use serde::{Deserialize, Serialize};
use sqlparser::ast::{
    AssignmentTarget, BinaryOperator, Expr, GroupByExpr, ObjectName, OrderByExpr, Select,
    Statement, TableFactor, Visit, Visitor,
};
use sqlparser::dialect::{MySqlDialect, PostgreSqlDialect};
use sqlparser::parser::Parser;
use thiserror::Error;

use crate::spec::{split, Piece};

#[derive(Debug, Error, Clone, PartialEq)]
#[error("cannot parse SQL: {0}")]
pub struct AnalysisError(pub String);

/// A column, with its table when the statement says (or implies) which.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ColumnRef {
    pub table: Option<String>,
    pub column: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    Read,
    Write,
}

/// What one statement does, for index selection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    pub access: Access,
    pub tables: Vec<String>,
    pub equality: Vec<ColumnRef>,
    pub range: Vec<ColumnRef>,
    pub joins: Vec<(ColumnRef, ColumnRef)>,
    pub order_by: Vec<ColumnRef>,
    pub group_by: Vec<ColumnRef>,
    /// Columns assigned by UPDATE or listed by INSERT.
    pub written: Vec<ColumnRef>,
    /// Every column the statement names anywhere (select list, predicates, ordering): what a
    /// covering index must hold for an index-only scan.
    #[serde(default)]
    pub referenced: Vec<ColumnRef>,
    /// `column = literal` with a constant written in the statement (not a placeholder), the
    /// literal as SQL: where a partial index may pay.
    #[serde(default)]
    pub constant_equalities: Vec<(ColumnRef, String)>,
    /// The select list has `*`: every column is read, no index covers it.
    #[serde(default)]
    pub select_star: bool,
}

/// Analyze every statement of `sql`.
pub fn analyze(sql: &str, engine: Engine) -> Result<Vec<Analysis>, AnalysisError> {
    // Our named placeholders become the dialect's own.
    let mut n = 0;
    let text: String = split(sql)
        .into_iter()
        .map(|p| match p {
            Piece::Text(t) => t,
            Piece::Param(_) if engine.is_mysql_family() => "?".to_string(),
            Piece::Param(_) => {
                n += 1;
                format!("${n}")
            }
        })
        .collect();
    let statements = match engine {
        Engine::Postgres => Parser::parse_sql(&PostgreSqlDialect {}, &text),
        Engine::Mysql | Engine::Mariadb => Parser::parse_sql(&MySqlDialect {}, &text),
    }
    .map_err(|e| AnalysisError(e.to_string()))?;
    Ok(statements.iter().map(analyze_statement).collect())
}

fn name_of(o: &ObjectName) -> String {
    o.0.iter()
        .filter_map(|p| p.as_ident().map(|i| i.value.to_lowercase()))
        .collect::<Vec<_>>()
        .join(".")
}

/// The last part of a table name (`public.orders` → `orders`).
fn short(table: &str) -> String {
    table.rsplit('.').next().unwrap_or(table).to_string()
}

/// A column as written: optional qualifier (table or alias) and name.
type RawColumn = (Option<String>, String);

#[derive(Default)]
struct Collector {
    tables: Vec<String>,
    aliases: BTreeMap<String, String>,
    equality: Vec<(Option<String>, String)>,
    range: Vec<(Option<String>, String)>,
    joins: Vec<(RawColumn, RawColumn)>,
    order_by: Vec<(Option<String>, String)>,
    group_by: Vec<(Option<String>, String)>,
    written: Vec<(Option<String>, String)>,
    referenced: Vec<RawColumn>,
    constant_equalities: Vec<(RawColumn, String)>,
    select_star: bool,
    access: Option<Access>,
}

/// A plain column reference: `col` or `qualifier.col`.
fn column(e: &Expr) -> Option<(Option<String>, String)> {
    match e {
        Expr::Identifier(i) => Some((None, i.value.to_lowercase())),
        Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
            let col = parts[parts.len() - 1].value.to_lowercase();
            let qualifier = parts[parts.len() - 2].value.to_lowercase();
            Some((Some(qualifier), col))
        }
        Expr::Nested(inner) => column(inner),
        Expr::Cast { expr, .. } => column(expr),
        _ => None,
    }
}

/// True when an expression names no column: a constant, a placeholder, arithmetic on those.
fn constant(e: &Expr) -> bool {
    let mut has_column = false;
    let _ = e.visit(&mut ColumnFinder {
        found: &mut has_column,
    });
    !has_column && !matches!(e, Expr::Subquery(_) | Expr::Exists { .. })
}

struct ColumnFinder<'a> {
    found: &'a mut bool,
}

impl Visitor for ColumnFinder<'_> {
    type Break = ();
    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
        if matches!(e, Expr::Identifier(_) | Expr::CompoundIdentifier(_)) {
            *self.found = true;
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }
}

impl Visitor for Collector {
    type Break = ();

    fn pre_visit_statement(&mut self, s: &Statement) -> ControlFlow<()> {
        match s {
            Statement::Query(_) => {
                self.access.get_or_insert(Access::Read);
            }
            Statement::Update(u) => {
                self.access = Some(Access::Write);
                for a in &u.assignments {
                    match &a.target {
                        AssignmentTarget::ColumnName(n) => self.written.push((
                            None,
                            name_of(n)
                                .rsplit('.')
                                .next()
                                .unwrap_or_default()
                                .to_string(),
                        )),
                        AssignmentTarget::Tuple(ns) => self
                            .written
                            .extend(ns.iter().map(|n| (None, short(&name_of(n))))),
                    }
                }
            }
            Statement::Insert(i) => {
                self.access = Some(Access::Write);
                self.written
                    .extend(i.columns.iter().map(|c| (None, short(&name_of(c)))));
            }
            Statement::Delete(_) | Statement::Merge { .. } => self.access = Some(Access::Write),
            _ => {
                self.access.get_or_insert(Access::Read);
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, r: &ObjectName) -> ControlFlow<()> {
        let t = short(&name_of(r));
        if !t.is_empty() && !self.tables.contains(&t) {
            self.tables.push(t);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, f: &TableFactor) -> ControlFlow<()> {
        if let TableFactor::Table {
            name,
            alias: Some(alias),
            ..
        } = f
        {
            self.aliases
                .insert(alias.name.value.to_lowercase(), short(&name_of(name)));
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, s: &Select) -> ControlFlow<()> {
        if s.projection.iter().any(|p| {
            matches!(
                p,
                sqlparser::ast::SelectItem::Wildcard(_)
                    | sqlparser::ast::SelectItem::QualifiedWildcard(..)
            )
        }) {
            self.select_star = true;
        }
        if let GroupByExpr::Expressions(exprs, _) = &s.group_by {
            self.group_by.extend(exprs.iter().filter_map(column));
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_order_by_expr(&mut self, o: &OrderByExpr) -> ControlFlow<()> {
        if let Some(c) = column(&o.expr) {
            self.order_by.push(c);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
        if matches!(e, Expr::Identifier(_) | Expr::CompoundIdentifier(_)) {
            if let Some(c) = column(e) {
                self.referenced.push(c);
            }
        }
        match e {
            Expr::BinaryOp { left, op, right } => {
                let (l, r) = (column(left), column(right));
                if *op == BinaryOperator::Eq {
                    for (c, v) in [(&l, right), (&r, left)] {
                        if let (Some(c), Expr::Value(v)) = (c, v.as_ref()) {
                            if !matches!(v.value, sqlparser::ast::Value::Placeholder(_)) {
                                self.constant_equalities
                                    .push((c.clone(), v.value.to_string()));
                            }
                        }
                    }
                }
                match op {
                    BinaryOperator::Eq => match (l, r) {
                        (Some(a), Some(b)) => self.joins.push((a, b)),
                        (Some(a), None) if constant(right) => self.equality.push(a),
                        (None, Some(b)) if constant(left) => self.equality.push(b),
                        _ => {}
                    },
                    BinaryOperator::Lt
                    | BinaryOperator::LtEq
                    | BinaryOperator::Gt
                    | BinaryOperator::GtEq => match (l, r) {
                        (Some(a), None) if constant(right) => self.range.push(a),
                        (None, Some(b)) if constant(left) => self.range.push(b),
                        _ => {}
                    },
                    _ => {}
                }
            }
            Expr::Between {
                expr,
                negated: false,
                low,
                high,
            } => {
                if let Some(c) = column(expr).filter(|_| constant(low) && constant(high)) {
                    self.range.push(c);
                }
            }
            Expr::In {
                expr,
                negated: false,
                ..
            } => {
                if let Some(c) = column(expr) {
                    self.equality.push(c);
                }
            }
            Expr::Like {
                expr,
                negated: false,
                pattern,
                ..
            } => {
                // Only a prefix pattern can use a B-tree.
                let prefix = matches!(pattern.as_ref(), Expr::Value(v) if v.to_string().trim_start_matches('\'').chars().next().is_some_and(|c| c != '%' && c != '_'));
                if let Some(c) = column(expr).filter(|_| {
                    prefix || constant(pattern) && !matches!(pattern.as_ref(), Expr::Value(_))
                }) {
                    self.range.push(c);
                }
            }
            Expr::IsNull(inner) => {
                if let Some(c) = column(inner) {
                    self.equality.push(c);
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

fn analyze_statement(statement: &Statement) -> Analysis {
    let mut c = Collector::default();
    let _ = statement.visit(&mut c);
    let only = (c.tables.len() == 1).then(|| c.tables[0].clone());
    let resolve = |(q, col): &(Option<String>, String)| -> ColumnRef {
        let table = match q {
            Some(q) => Some(c.aliases.get(q).cloned().unwrap_or_else(|| q.clone())),
            None => only.clone(),
        };
        ColumnRef {
            table,
            column: col.clone(),
        }
    };
    let list = |v: &[(Option<String>, String)]| -> Vec<ColumnRef> {
        let mut out: Vec<ColumnRef> = Vec::new();
        for r in v.iter().map(resolve) {
            if !out.contains(&r) {
                out.push(r);
            }
        }
        out
    };
    Analysis {
        access: c.access.unwrap_or(Access::Read),
        tables: c.tables.clone(),
        equality: list(&c.equality),
        range: list(&c.range),
        joins: c
            .joins
            .iter()
            .map(|(a, b)| (resolve(a), resolve(b)))
            .collect(),
        order_by: list(&c.order_by),
        group_by: list(&c.group_by),
        written: list(&c.written),
        referenced: list(&c.referenced),
        select_star: c.select_star,
        constant_equalities: {
            let mut out: Vec<(ColumnRef, String)> = Vec::new();
            for (col, v) in &c.constant_equalities {
                let pair = (resolve(col), v.clone());
                if !out.contains(&pair) {
                    out.push(pair);
                }
            }
            out
        },
    }
}

/// What a placeholder stands for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlaceholderRole {
    /// Compared with, or assigned to, a column.
    Column(ColumnRef),
    /// A LIMIT or OFFSET count.
    Limit,
    Other,
}

/// For each placeholder of a statement, in the statement's own numbering (`$n`; the n-th `?`
/// for MySQL), what it stands for: a column it is compared with or assigned to, a LIMIT, or
/// unknown.
pub fn placeholder_roles(
    sql: &str,
    engine: Engine,
) -> Result<BTreeMap<usize, PlaceholderRole>, AnalysisError> {
    let statements = match engine {
        Engine::Postgres => Parser::parse_sql(&PostgreSqlDialect {}, sql),
        Engine::Mysql | Engine::Mariadb => Parser::parse_sql(&MySqlDialect {}, sql),
    }
    .map_err(|e| AnalysisError(e.to_string()))?;
    let Some(statement) = statements.first() else {
        return Ok(BTreeMap::new());
    };
    let mut roles = Roles::default();
    let _ = statement.visit(&mut roles);
    let mut tables = Collector::default();
    let _ = statement.visit(&mut tables);
    let only = (tables.tables.len() == 1).then(|| tables.tables[0].clone());
    let resolve = |(q, col): &RawColumn| ColumnRef {
        table: match q {
            Some(q) => Some(tables.aliases.get(q).cloned().unwrap_or_else(|| q.clone())),
            None => only.clone(),
        },
        column: col.clone(),
    };
    // `?` placeholders are numbered by their position in the text.
    let mut positional: Vec<(u64, u64)> = roles
        .seen
        .iter()
        .filter(|(_, raw)| raw == "?")
        .map(|(at, _)| *at)
        .collect();
    positional.sort();
    let number = |at: (u64, u64), raw: &str| -> Option<usize> {
        if raw == "?" {
            positional.iter().position(|p| *p == at).map(|i| i + 1)
        } else {
            raw.trim_start_matches('$').parse().ok()
        }
    };
    let mut out = BTreeMap::new();
    for (at, raw) in &roles.seen {
        if let Some(n) = number(*at, raw) {
            out.insert(n, PlaceholderRole::Other);
        }
    }
    for (at, raw, role) in &roles.found {
        if let Some(n) = number(*at, raw) {
            let role = match role {
                RawRole::Column(c) => PlaceholderRole::Column(resolve(c)),
                RawRole::Limit => PlaceholderRole::Limit,
            };
            out.insert(n, role);
        }
    }
    Ok(out)
}

enum RawRole {
    Column(RawColumn),
    Limit,
}

#[derive(Default)]
struct Roles {
    /// Every placeholder: (line, column) of its start, and its text.
    seen: Vec<((u64, u64), String)>,
    found: Vec<((u64, u64), String, RawRole)>,
}

fn placeholders_in(e: &Expr) -> Vec<((u64, u64), String)> {
    let mut v = PlaceholderFinder::default();
    let _ = e.visit(&mut v);
    v.found
}

#[derive(Default)]
struct PlaceholderFinder {
    found: Vec<((u64, u64), String)>,
}

impl Visitor for PlaceholderFinder {
    type Break = ();
    fn pre_visit_value(&mut self, v: &sqlparser::ast::ValueWithSpan) -> ControlFlow<()> {
        if let sqlparser::ast::Value::Placeholder(p) = &v.value {
            self.found
                .push(((v.span.start.line, v.span.start.column), p.clone()));
        }
        ControlFlow::Continue(())
    }
}

impl Roles {
    fn bind(&mut self, col: RawColumn, e: &Expr) {
        for (at, raw) in placeholders_in(e) {
            self.found.push((at, raw, RawRole::Column(col.clone())));
        }
    }
}

impl Visitor for Roles {
    type Break = ();

    fn pre_visit_value(&mut self, v: &sqlparser::ast::ValueWithSpan) -> ControlFlow<()> {
        if let sqlparser::ast::Value::Placeholder(p) = &v.value {
            self.seen
                .push(((v.span.start.line, v.span.start.column), p.clone()));
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_statement(&mut self, s: &Statement) -> ControlFlow<()> {
        match s {
            Statement::Update(u) => {
                for a in &u.assignments {
                    if let AssignmentTarget::ColumnName(n) = &a.target {
                        self.bind((None, short(&name_of(n))), &a.value);
                    }
                }
            }
            Statement::Insert(i) => {
                if let Some(source) = &i.source {
                    if let sqlparser::ast::SetExpr::Values(values) = source.body.as_ref() {
                        for row in &values.rows {
                            for (c, e) in i.columns.iter().zip(row.iter()) {
                                self.bind((None, short(&name_of(c))), e);
                            }
                        }
                    }
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, q: &sqlparser::ast::Query) -> ControlFlow<()> {
        if let Some(sqlparser::ast::LimitClause::LimitOffset {
            limit: Some(limit), ..
        }) = &q.limit_clause
        {
            for (at, raw) in placeholders_in(limit) {
                self.found.push((at, raw, RawRole::Limit));
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
        match e {
            Expr::BinaryOp {
                left,
                op:
                    BinaryOperator::Eq
                    | BinaryOperator::NotEq
                    | BinaryOperator::Lt
                    | BinaryOperator::LtEq
                    | BinaryOperator::Gt
                    | BinaryOperator::GtEq,
                right,
            } => match (column(left), column(right)) {
                (Some(c), None) => self.bind(c, right),
                (None, Some(c)) => self.bind(c, left),
                _ => {}
            },
            Expr::Between {
                expr, low, high, ..
            } => {
                if let Some(c) = column(expr) {
                    self.bind(c.clone(), low);
                    self.bind(c, high);
                }
            }
            Expr::In {
                expr,
                target: sqlparser::ast::InTarget::List(list),
                ..
            } => {
                if let Some(c) = column(expr) {
                    for item in list {
                        self.bind(c.clone(), item);
                    }
                }
            }
            Expr::Like { expr, pattern, .. } => {
                if let Some(c) = column(expr) {
                    self.bind(c, pattern);
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(t: &str, c: &str) -> ColumnRef {
        ColumnRef {
            table: Some(t.into()),
            column: c.into(),
        }
    }

    #[test]
    fn extracts_predicates_joins_and_ordering() {
        let a = &analyze("SELECT p.category, sum(s.quantity) FROM olap_sales s JOIN olap_product p ON p.product_id = s.product_id WHERE s.date_id BETWEEN $1 AND $1 + 30 AND s.store_id = $2 GROUP BY p.category ORDER BY p.category", Engine::Postgres).unwrap()[0];
        assert_eq!(a.access, Access::Read);
        assert_eq!(a.tables, ["olap_sales", "olap_product"]);
        assert_eq!(a.range, [col("olap_sales", "date_id")]);
        assert_eq!(a.equality, [col("olap_sales", "store_id")]);
        assert_eq!(
            a.joins,
            [(
                col("olap_product", "product_id"),
                col("olap_sales", "product_id")
            )]
        );
        assert_eq!(a.group_by, [col("olap_product", "category")]);
        assert_eq!(a.order_by, [col("olap_product", "category")]);
        assert!(a.referenced.contains(&col("olap_sales", "quantity")));
        assert!(a.referenced.contains(&col("olap_product", "category")));
        assert!(a.constant_equalities.is_empty());
        assert!(!a.select_star);
        assert!(analyze("SELECT * FROM t WHERE a = 1", Engine::Postgres).unwrap()[0].select_star);
        let p = &analyze(
            "SELECT id, total FROM orders WHERE status = 'open' AND customer = $1",
            Engine::Postgres,
        )
        .unwrap()[0];
        assert_eq!(
            p.constant_equalities,
            [(col("orders", "status"), "'open'".to_string())]
        );
        assert_eq!(
            p.referenced,
            [
                col("orders", "id"),
                col("orders", "total"),
                col("orders", "status"),
                col("orders", "customer")
            ]
        );
    }

    #[test]
    fn writes_and_placeholder_styles() {
        let a = &analyze(
            "UPDATE tpcb_accounts SET abalance = abalance + :delta WHERE aid = :aid",
            Engine::Postgres,
        )
        .unwrap()[0];
        assert_eq!(a.access, Access::Write);
        assert_eq!(a.equality, [col("tpcb_accounts", "aid")]);
        assert_eq!(a.written, [col("tpcb_accounts", "abalance")]);
        let m = &analyze("SELECT * FROM orders WHERE customer_id = ? AND created_at >= ? ORDER BY created_at DESC LIMIT 10", Engine::Mariadb).unwrap()[0];
        assert_eq!(m.equality, [col("orders", "customer_id")]);
        assert_eq!(m.range, [col("orders", "created_at")]);
        assert_eq!(m.order_by, [col("orders", "created_at")]);
        let i = &analyze("INSERT INTO t (a, b) VALUES ($1, $2)", Engine::Postgres).unwrap()[0];
        assert_eq!(i.access, Access::Write);
        assert_eq!(i.written, [col("t", "a"), col("t", "b")]);
        let l = &analyze(
            "SELECT 1 FROM users WHERE name LIKE 'ab%' AND email IN ($1, $2)",
            Engine::Postgres,
        )
        .unwrap()[0];
        assert_eq!(l.range, [col("users", "name")]);
        assert_eq!(l.equality, [col("users", "email")]);
        assert!(analyze("SELEC nonsense", Engine::Postgres).is_err());
    }

    #[test]
    fn placeholders_map_to_their_columns() {
        let r = placeholder_roles("SELECT x FROM t a JOIN u b ON a.id = b.id WHERE a.k = $2 AND b.d BETWEEN $1 AND $1 + 30 LIMIT $3", Engine::Postgres).unwrap();
        assert_eq!(r[&2], PlaceholderRole::Column(col("t", "k")));
        assert_eq!(r[&1], PlaceholderRole::Column(col("u", "d")));
        assert_eq!(r[&3], PlaceholderRole::Limit);
        let r = placeholder_roles(
            "UPDATE `acc` SET `bal` = `bal` + ? WHERE `aid` = ?",
            Engine::Mariadb,
        )
        .unwrap();
        assert_eq!(r[&1], PlaceholderRole::Column(col("acc", "bal")));
        assert_eq!(r[&2], PlaceholderRole::Column(col("acc", "aid")));
        let r = placeholder_roles("INSERT INTO h (tid, aid) VALUES ($1, $2)", Engine::Postgres)
            .unwrap();
        assert_eq!(r[&2], PlaceholderRole::Column(col("h", "aid")));
        let r = placeholder_roles("SELECT $1::int", Engine::Postgres).unwrap();
        assert_eq!(r[&1], PlaceholderRole::Other);
    }
}
