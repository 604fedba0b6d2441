DROP VIEW open_tickets_by_queue;
