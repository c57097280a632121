-- When the retention grain last confirmed that a deletion's grain-state row is gone (clearing it if a deletion's
-- second step was lost): each receipt is checked once, after an hour's grace (grains/Retention/StateSweeper.cs).
-- NULL: not checked yet, including every receipt written before this migration.
ALTER TABLE plandex_deletion_receipts ADD COLUMN state_checked_at timestamptz NULL;
