//! Helpers for filling one output column from several parallel tasks.

/// `v` cut into consecutive slices of `counts` elements (all empty when `v` is): each task
/// writes its rows of a column in place, so the parts are never concatenated.
pub(crate) fn split_by<'a, T>(mut v: &'a mut [T], counts: &[usize]) -> Vec<&'a mut [T]> {
    counts
        .iter()
        .map(|&c| {
            let rest = std::mem::take(&mut v);
            let (a, b) = rest.split_at_mut(c.min(rest.len()));
            v = b;
            a
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn split_by_cuts_in_order_and_leaves_empty_columns_empty() {
        let mut v = [1, 2, 3, 4, 5, 6];
        let parts = super::split_by(&mut v, &[2, 0, 3, 1]);
        let lens: Vec<usize> = parts.iter().map(|p| p.len()).collect();
        assert_eq!(lens, [2, 0, 3, 1]);
        assert_eq!(parts[2], [3, 4, 5]);
        let mut empty: [i32; 0] = [];
        assert!(super::split_by(&mut empty, &[2, 3])
            .iter()
            .all(|p| p.is_empty()));
    }
}
