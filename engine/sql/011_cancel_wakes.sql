-- A cancel that lands while a step is in hand sets cancel_requested and makes the intent due at
-- once, but the step's outcome, applied a moment later, parks the intent until its next due
-- time: the end of a Wait that follows, an hour or a day away. The cancel was then honoured
-- only when the Wait ended. Whatever update leaves an EXECUTING intent out of hand with a cancel
-- requested, it is due now, so the next claim sees the cancel. The WHEN clause keeps the trigger
-- function off every other update (the hot path).
CREATE FUNCTION intentd.cancel_wakes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.due_at := now();
    RETURN NEW;
END $$;

CREATE TRIGGER intents_cancel_wakes BEFORE UPDATE ON intentd.intents
    FOR EACH ROW
    WHEN (NEW.cancel_requested AND NOT NEW.in_hand AND NEW.state = 'EXECUTING'
          AND NEW.due_at > now())
    EXECUTE FUNCTION intentd.cancel_wakes();
