-- Runs once on each primary's first start (docker-entrypoint-initdb.d). Users keep MySQL 8's default
-- caching_sha2_password: shardgate logs in with it (full authentication over RSA the first time).
CREATE USER 'app'@'%' IDENTIFIED BY 'app';
GRANT ALL PRIVILEGES ON *.* TO 'app'@'%';
CREATE USER 'repl'@'%' IDENTIFIED BY 'repl';
GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%';
CREATE DATABASE demo;
CREATE DATABASE sbtest;
