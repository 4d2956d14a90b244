//! splice LISTEN_ADDR BACKEND_ADDR [WORKERS]
//! Accepts TCP and copy_bidirectional's bytes to BACKEND_ADDR; nothing else. The floor any tokio
//! proxy pays (syscalls + wake-ups), measured beside HAProxy in bench/run.sh.
//! WORKERS: tokio worker threads (default: one per core, like shardgate's default).
use tokio::net::{TcpListener, TcpStream};

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: splice LISTEN_ADDR BACKEND_ADDR [WORKERS]");
        std::process::exit(2);
    }
    let (listen, backend) = (args[1].clone(), args[2].clone());
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(w) = args.get(3) {
        rt.worker_threads(w.parse().expect("WORKERS must be a number"));
    }
    rt.enable_all().build()?.block_on(async move {
        let listener = TcpListener::bind(&listen).await?;
        loop {
            let (mut client, _) = listener.accept().await?;
            let backend = backend.clone();
            tokio::spawn(async move {
                let _ = client.set_nodelay(true);
                let Ok(mut server) = TcpStream::connect(&backend).await else { return };
                let _ = server.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            });
        }
    })
}
