package booking

// schemaV5 adds the desk's reservation for appointments (Desk.Appointments,
// desks.go): 1 when the virtual queue calls only booked citizens to the
// desk. Existing desks default to 0, as a booking.desk.save of version 1
// means. Reads and booking.desk.save work without the column until this
// migration has run (see deskColumnsV4 and deskHasAppointments).
const schemaV5 = `
ALTER TABLE booking_desks ADD COLUMN appointments INTEGER NOT NULL DEFAULT 0 CHECK (appointments IN (0, 1));
`
