from common.service import main
from expiration.app import SERVICE

if __name__ == "__main__":
    main(SERVICE)
