-- What identifies the outcome at the checkpoint, besides its time: the CRC32C of its 136 encoded bytes (as the journal
-- holds them). The projector compares both with the journal's outcome at that sequence when it starts, so that tables
-- projected from a journal that has since lost its end (an accepted journal loss) are refused, not silently continued
-- with other outcomes under the same sequence numbers. NULL: nothing projected yet, or projected before this column.
ALTER TABLE projector_checkpoint ADD COLUMN outcome_crc BIGINT;
