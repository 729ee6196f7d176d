from common.service import main
from orders.app import SERVICE

if __name__ == "__main__":
    main(SERVICE)
