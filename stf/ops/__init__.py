"""Operations on the database that several commands share: one cascade for
each kind of deletion. They know the persistent classes and the domain, no
terminal and no transaction (the caller's command is the transaction)."""
