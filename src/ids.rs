//! Stable pattern ids and optional labels, kept on the host beside the patterns.
//!
//! A pattern's index moves when earlier patterns are removed; its id does not. Fresh ids come
//! from a counter that only grows (past every id ever handed in, too), so an id is never
//! reused by the same memory, even after its pattern was removed.

use std::collections::HashMap;

use crate::error::{Error, Result};

/// Ids and labels in row order, with the reverse map id → row.
#[derive(Clone, Debug, Default)]
pub(crate) struct PatternIds {
    ids: Vec<u64>,
    labels: Vec<Option<String>>,
    rows: HashMap<u64, usize>,
    next: u64,
}

impl PatternIds {
    /// Ids and labels as a file holds them; the error says what is inconsistent.
    pub(crate) fn restore(
        ids: Vec<u64>,
        labels: Vec<Option<String>>,
        next: u64,
    ) -> std::result::Result<PatternIds, String> {
        if labels.len() != ids.len() {
            return Err(format!(
                "{} labels for {} patterns",
                labels.len(),
                ids.len()
            ));
        }
        let mut rows = HashMap::with_capacity(ids.len());
        for (row, &id) in ids.iter().enumerate() {
            if rows.insert(id, row).is_some() {
                return Err(format!("id {id} appears twice"));
            }
            // `next == u64::MAX` also marks a counter that stopped at the last id.
            if id >= next && id != u64::MAX {
                return Err(format!("id {id} is not below the next fresh id {next}"));
            }
        }
        Ok(PatternIds {
            ids,
            labels,
            rows,
            next,
        })
    }

    pub(crate) fn ids(&self) -> &[u64] {
        &self.ids
    }

    pub(crate) fn labels(&self) -> &[Option<String>] {
        &self.labels
    }

    /// The id the next fresh pattern will get.
    pub(crate) fn next(&self) -> u64 {
        self.next
    }

    pub(crate) fn row_of(&self, id: u64) -> Option<usize> {
        self.rows.get(&id).copied()
    }

    /// `n` fresh ids, not yet taken: fails only when the u64 range is used up.
    pub(crate) fn fresh(&self, n: usize) -> Result<Vec<u64>> {
        let end = self.next.checked_add(n as u64).ok_or_else(|| {
            Error::InvalidOptions(format!(
                "no {n} fresh pattern ids left: ids up to {} are taken",
                self.next - 1
            ))
        })?;
        Ok((self.next..end).collect())
    }

    /// Checks that `ids` can be appended: unique among themselves and not in use.
    pub(crate) fn check_new(&self, ids: &[u64]) -> Result<()> {
        let mut seen = std::collections::HashSet::with_capacity(ids.len());
        match ids
            .iter()
            .find(|&&id| self.rows.contains_key(&id) || !seen.insert(id))
        {
            Some(&id) => Err(Error::DuplicateId(id)),
            None => Ok(()),
        }
    }

    /// Appends ids already checked with [`check_new`](Self::check_new), without labels.
    pub(crate) fn push(&mut self, ids: &[u64]) {
        for &id in ids {
            self.rows.insert(id, self.ids.len());
            self.ids.push(id);
            self.labels.push(None);
            // A fresh id must never meet a given one. Past u64::MAX the counter stays there,
            // and `fresh` refuses from then on.
            self.next = self.next.max(id.saturating_add(1));
        }
    }

    pub(crate) fn set_label(&mut self, row: usize, label: Option<String>) {
        self.labels[row] = label;
    }

    /// Drops the rows in `sorted` (ascending, unique, in range); survivors keep their ids.
    pub(crate) fn remove(&mut self, sorted: &[usize]) {
        let mut gone = sorted.iter().peekable();
        let mut row = 0;
        let keep: Vec<bool> = (0..self.ids.len())
            .map(|_| {
                let keep = gone.next_if(|&&g| g == row).is_none();
                row += 1;
                keep
            })
            .collect();
        let mut flags = keep.iter();
        self.ids
            .retain(|_| *flags.next().expect("one flag per row"));
        let mut flags = keep.iter();
        self.labels
            .retain(|_| *flags.next().expect("one flag per row"));
        self.reindex();
    }

    /// Forgets every pattern; the counter keeps counting, so old ids are not handed out again.
    pub(crate) fn clear(&mut self) {
        self.ids.clear();
        self.labels.clear();
        self.rows.clear();
    }

    fn reindex(&mut self) {
        self.rows.clear();
        self.rows
            .extend(self.ids.iter().enumerate().map(|(row, &id)| (id, row)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_ids_pass_given_ones_and_survive_removal() {
        let mut ids = PatternIds::default();
        let fresh = ids.fresh(3).unwrap();
        ids.push(&fresh);
        ids.check_new(&[10, 4]).unwrap();
        ids.push(&[10, 4]);
        assert_eq!(ids.fresh(1).unwrap(), vec![11]);
        ids.remove(&[0, 3]);
        assert_eq!(ids.ids(), &[1, 2, 4]);
        assert_eq!(ids.row_of(4), Some(2));
        assert_eq!(ids.row_of(10), None);
        assert_eq!(ids.check_new(&[5, 2]), Err(Error::DuplicateId(2)));
        assert_eq!(ids.check_new(&[5, 5]), Err(Error::DuplicateId(5)));
    }

    #[test]
    fn the_last_id_ends_fresh_ones() {
        let mut ids = PatternIds::default();
        ids.push(&[u64::MAX]);
        assert!(ids.fresh(1).is_err());
        ids.check_new(&[7]).unwrap();
    }

    #[test]
    fn restore_refuses_inconsistent_ids() {
        assert!(PatternIds::restore(vec![1, 1], vec![None, None], 5).is_err());
        assert!(PatternIds::restore(vec![1, 5], vec![None, None], 5).is_err());
        assert!(PatternIds::restore(vec![1], vec![], 5).is_err());
        assert!(PatternIds::restore(vec![1, 4], vec![None, Some("a".into())], 5).is_ok());
    }
}
