-- The e-commerce demo's source tables (PostgreSQL). `bash bin/demo` loads this file, then the
-- demo inserts customers and orders and changes some of them while the topology runs.
DROP SCHEMA IF EXISTS ecommerce CASCADE;
CREATE SCHEMA ecommerce;

CREATE TABLE ecommerce.customers (
  id         integer PRIMARY KEY,
  name       text NOT NULL,
  email      text NOT NULL,
  country    text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ecommerce.orders (
  id          integer PRIMARY KEY,
  customer_id integer NOT NULL REFERENCES ecommerce.customers (id),
  status      text NOT NULL,
  total       numeric(10, 2) NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
