-- The Orleans ADO.NET providers read every statement they run from this table once, at start.
-- Keys and parameter names follow the providers' query contract (Orleans 10.4.2).
CREATE TABLE IF NOT EXISTS orleansquery
(
    querykey  varchar(64)   NOT NULL,
    querytext varchar(8000) NOT NULL,
    CONSTRAINT orleansquery_key PRIMARY KEY (querykey)
);
