-- A change to a month closed when it was recorded counts in the open
-- month, at the instant it was recorded (periods.effective). Reports in a
-- currency convert money at the rate of each purchase date (contract), and
-- read that date from the rollup row's hour, which for such an adjustment
-- is the recording's: a late event for October was converted at
-- December's rate, and across the two months a conversion's converted
-- money no longer netted to what it is. The adjustment's rollup key now
-- carries its purchase's quarter-hour (fx_at), and reports convert its
-- money at that date; every other key has -infinity (its row's own hour).
-- Adjustments rolled up before this keep their reading until `reporting
-- replay` rebuilds them.
ALTER TABLE rollup_keys ADD COLUMN fx_at timestamptz NOT NULL DEFAULT '-infinity';
DO $$
DECLARE name text;
BEGIN
    SELECT conname INTO STRICT name FROM pg_constraint
        WHERE conrelid = 'rollup_keys'::regclass AND contype = 'u';
    EXECUTE format('ALTER TABLE rollup_keys DROP CONSTRAINT %I', name);
END $$;
ALTER TABLE rollup_keys ADD CONSTRAINT rollup_keys_dimensions UNIQUE (partner, course_id, code, placement, currency, fx_at);
